"""SExtractor settings for point sources in crowded fields, chosen from the seeing.

Measured on the NGC 6871 frame (seeing 2.1 pix) against the legacy DAOPHOT
ALLSTAR list (4146 stars; detections within 1 pix of a legacy star;
``benchmarks/crowded_ngc6871.py``):

=================================================  ===========  ========  ==========
setup                                              detections   legacy    unmatched
=================================================  ===========  ========  ==========
ccdphot default (1.5 sigma, 5 pix, FWHM-3 filter)  2394         55 %      111
1.0 sigma, 3 pix                                   3233         71 %      271
1.0 sigma, 3 pix, deblend 64/1e-4, FWHM-3 filter   3310         73 %      266
1.0 sigma, 3 pix, deblend 64/1e-4, FWHM-2 filter   4038         86 %      483
0.8 sigma, same                                    4738         90 %      1010
=================================================  ===========  ========  ==========

The filter matched to the seeing (a Gaussian of the seeing FWHM rather than
a wider one) is what separates close pairs; the threshold trades depth
against spurious detections. After ALLSTAR with the residual pass
(docs/daophot.rst) the 1.0-sigma list reaches 93 % of the legacy stars with
4.6 % spurious. SExtractor ships no filter for an arbitrary
FWHM, so the kernel is written here.

Whether a frame is crowded is measured, per frame, on the normal detection
list (:func:`crowding_index`): N x pi (3 FWHM)^2 / image area, the mean
number of detected stars within 3 seeing FWHM of a star
(``benchmarks/crowding_index.py``; every real frame at hand, docs/daophot.rst):

==========================================  =====  ==========  ==============
frame                                       FWHM   detections  crowding index
==========================================  =====  ==========  ==============
PANOPTES pole.fits (200x200, 10"/pix)       4.1    4           0.046
NGC 6871 (cluster, 0.61"/pix)               2.1    2394        0.20
PANOPTES unsolved.fits (700x700)            2.3    851         0.26
HAT-P-32 night, 36 frames (5.2"/pix)        1.7-4  1219-1689   0.41-1.68
SkyCamZ, 5 frames (3.6"/pix)                4.2    1146-1170   0.53-0.55
==========================================  =====  ==========  ==============

At 0.2 the normal detection (FWHM-3 filter, 5 pixels) finds 57 % of the
legacy DAOPHOT stars of NGC 6871, the crowded mode 93 %.
:data:`CROWDED_INDEX` = 0.1 lies a factor 2 below NGC 6871 and above the
sparse frame. No measure (this index, the fraction of stars with a detected
neighbour, the gain of the crowded detection) ranks the cluster frame above
the wide-field frames of small telescopes: at their pixel scale those are
more crowded, and the crowded mode runs there too.
"""

import logging
import math

import numpy as np

from ccdphot.errors import ConfigError

log = logging.getLogger(__name__)

FILTER_NAME = "crowded.conv"
CROWDED_INDEX = 0.1  # crowding index from which a frame is crowded (figures above)
NEIGHBOUR_RADIUS_FWHM = 3.0


def crowding_index(x_pix, y_pix, fwhm_pix, shape):
    """Detections per seeing area: N x pi (3 FWHM)^2 / (ny x nx); NaN without a seeing.

    The mean number of detected stars within 3 FWHM of a star were they spread
    evenly: a count of overlapping PSF wings that does not depend on the pixel
    scale.
    """
    n_stars = len(np.asarray(x_pix))
    if not (fwhm_pix and np.isfinite(fwhm_pix) and fwhm_pix > 0) or n_stars == 0:
        return float("nan")
    area_pix = float(shape[0]) * float(shape[1])
    return n_stars * math.pi * (NEIGHBOUR_RADIUS_FWHM * fwhm_pix) ** 2 / area_pix


def crowded_setting(value, key="[detect.crowded] enabled"):
    """``value`` checked: "auto", True or False; anything else is a ConfigError naming ``key``."""
    if value == "auto" or isinstance(value, bool):
        return value
    raise ConfigError(f"{key} = {value!r}: give \"auto\" (decided per frame from the "
                      "crowding index), true or false")


def is_crowded(setting, index):
    """The decision for a frame: ``setting`` when true/false, else index >= CROWDED_INDEX."""
    setting = crowded_setting(setting)
    if setting != "auto":
        return setting
    return bool(np.isfinite(index) and index >= CROWDED_INDEX)


def gaussian_filter_text(fwhm_pix):
    """A SExtractor ``CONV NORM`` Gaussian kernel of ``fwhm_pix``, odd size >= 3 x FWHM."""
    sigma = fwhm_pix / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    half = max(1, int(math.ceil(1.5 * fwhm_pix / 2.0)))
    offsets = np.arange(-half, half + 1, dtype=float)
    kernel = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2.0 * sigma ** 2))
    rows = [" ".join(f"{value:.6f}" for value in row) for row in kernel]
    return (f"CONV NORM\n# ccdphot: {2 * half + 1}x{2 * half + 1} Gaussian detection filter, "
            f"FWHM {fwhm_pix:.2f} pixels (the measured seeing)\n" + "\n".join(rows) + "\n")


def crowded_settings(config, fwhm_pix, work_dir):
    """SExtractor overrides of ``[detect.crowded]`` for a frame of seeing ``fwhm_pix``.

    Writes the seeing-matched filter into ``work_dir``/filter (SExtractor's
    job copies it beside the image) and returns {KEY: value} to apply over the
    frame's normal settings.
    """
    path = work_dir / "filter" / FILTER_NAME
    path.parent.mkdir(exist_ok=True)
    path.write_text(gaussian_filter_text(fwhm_pix))
    settings = {"DETECT_THRESH": config["thresh_sigma"],
                "ANALYSIS_THRESH": config["thresh_sigma"],
                "DETECT_MINAREA": config["minarea_pix"],
                "DEBLEND_NTHRESH": config["deblend_nthresh"],
                "DEBLEND_MINCONT": config["deblend_mincont"],
                "FILTER": "Y", "FILTER_NAME": str(path.absolute())}  # not the .sex file's folder
    log.info("crowded-field detection: %.2f sigma, %d pix, deblend %d/%g, Gaussian filter "
             "of FWHM %.2f pix (the seeing)", config["thresh_sigma"], config["minarea_pix"],
             config["deblend_nthresh"], config["deblend_mincont"], fwhm_pix)
    return settings
