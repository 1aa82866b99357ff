"""Header keywords of a stack: exposure, times, gain, read noise, saturation, provenance.

The stack's pixel values are the combination (mean, median or sigma-clipped
mean) of the frames after each frame i was scaled by ``s_i = t_eff / t_i`` to
the effective exposure ``t_eff`` (the mean exposure time). So the stack keeps a
single frame's ADU scale and ``EXPTIME`` is ``t_eff``; the total exposure goes
into ``TEXPTIME``. No library derives the noise figures of such a combination,
hence the few formulas here (a_i = s_i / N, c = 1 for a mean, pi/2 for a median
of more than two frames, its large-N efficiency):

* GAIN (e-/ADU) = N^2 / (c * sum s_i / g_i)  -- N g for N equal frames: the
  Poisson noise of the stack is that of N frames' electrons;
* RDNOISE (e-) = GAIN * sqrt(c * sum (a_i r_i / g_i)^2)  -- r sqrt(N) for a mean;
* SATURATE (ADU) = min_i s_i S_i  -- the stack level at which the first frame saturates.

Times follow the FITS standard: DATE-OBS and DATE-BEG the start of the first
frame, DATE-END the end of the last, DATE-AVG (and MJD-AVG) the
exposure-weighted mean of the frames' mid-exposure times, which ``ccdphot run``
takes as the stack's mid-exposure time.
"""

import logging
import math

import numpy as np
from astropy import units as u
from astropy.time import Time

from ccdphot.header.standard import original_key

log = logging.getLogger(__name__)

MEDIAN_VARIANCE_FACTOR = math.pi / 2.0
# Per-exposure keywords of the first frame that are wrong for a stack: the
# header step recomputes the times and airmass from the stack's own keywords.
_SINGLE_EXPOSURE_KEYS = ("JD", "MJD", "MJD-OBS", "HJD", "BJD_TDB", "TIME-OBS", "UT", "UTSTART",
                         "UT-START", "UTC-OBS", "UTEND", "DATE-END", "DATE-BEG", "DATE-AVG",
                         "MJD-AVG", "AIRMASS", "EXPOSURE", "EXP_TIME", "ITIME", "TELAPSE",
                         "XPOSURE", "FLXSCALE")
_PROVENANCE_PREFIX = "IMCMB"


def variance_factor(method, n_frames):
    """How much a combination's variance exceeds that of the mean of the same frames."""
    return MEDIAN_VARIANCE_FACTOR if method == "median" and n_frames > 2 else 1.0


def noise_keywords(method, scales, gains=None, rdnoises=None, saturates=None):
    """{GAIN, RDNOISE, SATURATE} of a combination, each only when every frame has it.

    ``scales`` are the flux factors s_i; ``gains`` (e-/ADU), ``rdnoises`` (e-)
    and ``saturates`` (ADU) per frame, None where unknown.
    """
    scales = np.asarray(scales, dtype=float)
    n = len(scales)
    c = variance_factor(method, n)
    values = {}

    def known(items):
        return items is not None and all(v is not None for v in items)

    if known(gains):
        g = np.asarray(gains, dtype=float)
        values["GAIN"] = float(n ** 2 / (c * np.sum(scales / g)))
        if known(rdnoises):
            r = np.asarray(rdnoises, dtype=float)
            values["RDNOISE"] = float(values["GAIN"]
                                      * math.sqrt(c * np.sum((scales / n * r / g) ** 2)))
    if known(saturates):
        values["SATURATE"] = float(np.min(scales * np.asarray(saturates, dtype=float)))
    return values


def time_keywords(starts, exptimes):
    """DATE-OBS/DATE-BEG, DATE-END, DATE-AVG, MJD-AVG from start Times and exposures (s)."""
    starts = Time(list(starts))
    exptimes = np.asarray(exptimes, dtype=float)
    mids = starts + exptimes / 2.0 * u.s
    ends = starts + exptimes * u.s
    weights = exptimes if exptimes.sum() > 0 else np.ones(len(exptimes))
    mid = Time(np.sum(mids.utc.mjd * weights) / weights.sum(), format="mjd", scale="utc")
    first = int(np.argmin(starts.utc.mjd))
    return {"DATE-OBS": starts[first].utc.isot, "DATE-BEG": starts[first].utc.isot,
            "DATE-END": ends[int(np.argmax(ends.utc.mjd))].utc.isot,
            "DATE-AVG": mid.isot, "MJD-AVG": round(float(mid.mjd), 8)}


_COMMENTS = {
    "EXPTIME": "[s] effective exposure of the pixel values",
    "TEXPTIME": "[s] total exposure of the combined frames",
    "NCOMBINE": "number of frames combined",
    "DATE-OBS": "[UTC] start of the first frame",
    "DATE-BEG": "[UTC] start of the first frame",
    "DATE-END": "[UTC] end of the last frame",
    "DATE-AVG": "[UTC] mid-exposure time of the stack",
    "MJD-AVG": "[d] MJD (UTC) of DATE-AVG",
    "GAIN": "[e-/ADU] effective gain of the combination",
    "RDNOISE": "[e-] effective read noise of the combination",
    "SATURATE": "[ADU] level at which the first frame saturates",
    "AIRMASS": "mean airmass of the combined frames",
    "STACKMTH": "combination method (ccdphot stack)",
    "STACKENG": "stacking engine and version",
    "STACKALN": "how the frames were aligned",
}


def stack_header(base, names, method, scales, exptimes, engine, alignment, starts=None,
                 gains=None, rdnoises=None, saturates=None, airmasses=None):
    """The stack's header: ``base`` (the first frame's, standardised, without WCS) with
    the stack keywords.

    Per-exposure keywords of the first frame (JD, UT, AIRMASS, ...) and the
    single-frame originals the header step kept (``EXPT_HDR``...) are removed
    and replaced by the stack's; ``names`` (the input files) are recorded as
    IMCMB001... (the IRAF imcombine convention).
    """
    header = base.copy()
    replaced = _SINGLE_EXPOSURE_KEYS + ("EXPTIME", "GAIN", "RDNOISE", "SATURATE", "DATE-OBS")
    for key in replaced + tuple(original_key(k) for k in replaced) + tuple(
            k for k in header if k.startswith(_PROVENANCE_PREFIX)):
        header.remove(key, ignore_missing=True, remove_all=True)
    exptimes = np.asarray(exptimes, dtype=float)
    values = {"EXPTIME": round(float(np.mean(exptimes)), 6),
              "TEXPTIME": round(float(exptimes.sum()), 6), "NCOMBINE": len(names)}
    if starts is not None and all(start is not None for start in starts):
        values.update(time_keywords(starts, exptimes))
    else:
        log.warning("not every frame has a DATE-OBS: the stack gets no time keywords")
    values.update(noise_keywords(method, scales, gains, rdnoises, saturates))
    for key in ("GAIN", "RDNOISE", "SATURATE"):
        if key not in values:
            log.warning("%s unknown in some frame: the stack gets no %s (give --set %s=...)",
                        key, key, key)
    if airmasses is not None and all(a is not None for a in airmasses):
        values["AIRMASS"] = round(float(np.mean(airmasses)), 5)
    values.update(STACKMTH=method, STACKENG=engine, STACKALN=alignment)
    for key, value in values.items():
        header[key] = (value, _COMMENTS[key])
    for i, name in enumerate(names, start=1):
        header[f"{_PROVENANCE_PREFIX}{i:03d}"] = (str(name)[-68:], "input frame")
    header.add_history(f"ccdphot stack: {method} of {len(names)} frames ({engine}, "
                       f"aligned by {alignment})")
    return header
