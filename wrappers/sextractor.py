"""SExtractor (``source-extractor``): detection list, MAG_AUTO, FWHM, background.

*Build* writes the .sex/.param/filter files into the work directory, *run*
calls the tool with file names relative to it, *parse* reads the FITS_LDAC
catalogue into an astropy Table with units and the tool's own background and
threshold figures in ``meta``.
"""

import logging
import shutil
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.stats import sigma_clipped_stats
from astropy.table import Table
from ccdphot.wrappers.base import param_file, render_astromatic_config, run_tool

from ccdphot.errors import OutputParseError

log = logging.getLogger(__name__)

TOOL = "sextractor"
CATALOG_NAME = "detections.ldac"
CONFIG_NAME = "ccdphot.sex"
PARAMS_NAME = "ccdphot.param"

# Figures SExtractor writes into the LDAC image header, as meta keys with units.
_IMHEAD_FIGURES = {
    "SEXBKGND": ("background_adu", "median background level"),
    "SEXBKDEV": ("background_rms_adu", "median background RMS"),
    "SEXTHLD": ("detect_threshold_adu", "extraction threshold"),
    "SEXNDET": ("n_raw_detections", "raw detections"),
    "SEXGAIN": ("gain_e_per_adu", "gain used"),
    "SEXSATLV": ("saturation_adu", "saturation level used"),
    "SEXMGZPT": ("zero_point_mag", "magnitude zero point used"),
}


def _filter_source(name):
    """The detection filter: a file shipped in default_params/sextractor or a path."""
    shipped = param_file(TOOL, name)
    if shipped.is_file():
        return shipped
    path = Path(name).expanduser()
    if path.is_file():
        return path
    raise FileNotFoundError(
        f"SExtractor filter '{name}' is neither shipped with ccdphot nor an existing file; "
        "set [detect] filter_name to a .conv file")


def build(work_dir, detect, zero_point_mag, gain_e_per_adu=None, saturate_adu=None,
          pixel_scale_arcsec=None, weight_image=None):
    """Write the SExtractor parameter files into ``work_dir``; return their names.

    ``detect`` is the ``[detect]`` config table. Frame values (gain, saturation
    level, pixel scale) are passed per call, never kept between frames.
    ``weight_image`` names a weight map in ``work_dir`` (0 = bad pixel), e.g.
    the calibrate step's ``weight.fits``.
    """
    work_dir = Path(work_dir)
    filter_src = _filter_source(detect["filter_name"])
    shutil.copyfile(filter_src, work_dir / filter_src.name)
    shutil.copyfile(param_file(TOOL, PARAMS_NAME), work_dir / PARAMS_NAME)
    settings = {
        "CATALOG_NAME": CATALOG_NAME,
        "CATALOG_TYPE": "FITS_LDAC",
        "PARAMETERS_NAME": PARAMS_NAME,
        "FILTER_NAME": filter_src.name,
        "DETECT_THRESH": detect["detect_thresh_sigma"],
        "ANALYSIS_THRESH": detect["detect_thresh_sigma"],
        "DETECT_MINAREA": detect["detect_minarea_pix"],
        "PHOT_APERTURES": list(detect["aperture_diameters_pix"]),
        "BACK_SIZE": detect["back_size_pix"],
        "BACK_FILTERSIZE": detect["back_filtersize"],
        "MAG_ZEROPOINT": zero_point_mag,
        "GAIN": gain_e_per_adu or 0.0,
        "PIXEL_SCALE": pixel_scale_arcsec or 0.0,
    }
    if saturate_adu:
        settings["SATUR_LEVEL"] = saturate_adu
    if weight_image:
        settings.update(WEIGHT_IMAGE=weight_image, WEIGHT_TYPE="MAP_WEIGHT")
    settings.update(detect.get("sextractor", {}))
    render_astromatic_config(param_file(TOOL, CONFIG_NAME), settings, work_dir / CONFIG_NAME)
    return CONFIG_NAME


def run(tool, image_name, work_dir, **build_args):
    """Run SExtractor on ``image_name`` (a plain file name inside ``work_dir``).

    Returns the parsed catalogue (see :func:`read_catalog`).
    """
    config_name = build(work_dir, **build_args)
    catalog = Path(work_dir) / CATALOG_NAME
    catalog.unlink(missing_ok=True)
    run_tool(tool, [image_name, "-c", config_name], cwd=work_dir, expect=[CATALOG_NAME])
    table = read_catalog(catalog)
    table.meta["tool"] = {"name": tool.label, "version": tool.version,
                          "argv": [*tool.argv, image_name, "-c", config_name]}
    return table


def _imhead(hdul):
    cards = hdul["LDAC_IMHEAD"].data[0][0]
    text = cards if isinstance(cards, str) else "".join(str(c).ljust(80) for c in cards)
    return fits.Header.fromstring(text)


def read_catalog(path):
    """Read a SExtractor FITS_LDAC catalogue into a Table (pure parsing).

    Units come from the catalogue's TUNIT cards; the image-header figures
    (background level and RMS, threshold, gain and saturation used) go into
    ``meta`` under unit-carrying names.
    """
    path = Path(path)
    try:
        with fits.open(path) as hdul:
            table = Table(hdul["LDAC_OBJECTS"].data, masked=False)
            for col, hdu_col in zip(table.colnames, hdul["LDAC_OBJECTS"].columns):
                if hdu_col.unit:
                    table[col].unit = u.Unit(hdu_col.unit, parse_strict="silent")
            header = _imhead(hdul)
    except (OSError, KeyError, IndexError, ValueError) as err:
        raise OutputParseError(f"{path.name}: not a readable SExtractor FITS_LDAC catalogue "
                               f"({err})") from err
    for key, (name, _) in _IMHEAD_FIGURES.items():
        if key in header:
            table.meta[name] = header[key]
    return table


def seeing(table, min_snr=20.0, max_elongation=1.5):
    """Robust seeing of a frame from a SExtractor table.

    Point sources are taken as unflagged (FLAGS == 0), round (ELONGATION below
    ``max_elongation``) detections with S/N above ``min_snr`` and a positive
    FWHM; the seeing is their 3-sigma-clipped median FWHM_IMAGE. Returns
    (fwhm in pixels as a Quantity, number of stars used); (nan pix, 0) when no
    star qualifies.
    """
    flux = np.asarray(table["FLUX_AUTO"], dtype=float)
    flux_err = np.asarray(table["FLUXERR_AUTO"], dtype=float)
    fwhm = np.asarray(table["FWHM_IMAGE"], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(flux_err > 0, flux / flux_err, 0.0)
    good = ((np.asarray(table["FLAGS"]) == 0) & (snr >= min_snr) & (fwhm > 0.5)
            & (np.asarray(table["ELONGATION"], dtype=float) < max_elongation))
    if not good.any():
        return np.nan * u.pix, 0
    _, median, _ = sigma_clipped_stats(fwhm[good], sigma=3.0, maxiters=10)
    return float(median) * u.pix, int(good.sum())
