"""Every reference star's measurements in every frame, as (frames x stars) arrays.

The arrays are what the ensemble, the detrending and the variability indices
work on (vectorised over stars); the per-frame values (times, airmass, seeing,
sky) form one table row per frame, the reference stars one row per star.
"""

import logging
import math
from dataclasses import dataclass, field

import numpy as np
from astropy import units as u
from astropy.table import Table

from ccdphot.series.products import FRAME_KEYS, TEXT_KEYS

log = logging.getLogger(__name__)

# photometry methods -> (magnitude, error) columns of the unified table
METHODS = {"psf": ("MAG_PSF", "MAGERR_PSF"), "aper": ("MAG_APER", "MAGERR_APER"),
           "kron": ("MAG_AUTO", "MAGERR_AUTO")}
# per-star columns gathered for every frame (besides the magnitudes)
STAR_COLUMNS = ("X_IMAGE", "Y_IMAGE", "FWHM_IMAGE", "MAG_CAL", "MAGERR_CAL", "FLAGS")
_UNITS = {"JD_UTC": u.day, "MJD_UTC": u.day, "HJD_UTC": u.day, "BJD_TDB": u.day,
          "EXPTIME_S": u.s, "SEEING_FWHM_PIX": u.pix, "SEEING_FWHM_ARCSEC": u.arcsec,
          "SKY_ADU": u.adu, "SKY_RMS_ADU": u.adu, "POINTING_RA_DEG": u.deg,
          "POINTING_DEC_DEG": u.deg, "ZP_MAG": u.mag, "ZP_ERR_MAG": u.mag}


@dataclass
class StarSeries:
    """One telescope/filter series: frames (rows) x reference stars (columns)."""

    frames: Table
    stars: Table
    values: dict = field(repr=False)
    reference: str = ""
    match_mode: str = ""

    @property
    def n_frames(self):
        return len(self.frames)

    @property
    def n_stars(self):
        return len(self.stars)

    def magnitudes(self, method):
        """(mag, err) arrays of one photometry method, NaN where missing."""
        mag_name, err_name = METHODS[method]
        return self.values[mag_name], self.values[err_name]


def frame_table(frames, matches):
    """One row per frame: name, times, conditions, how it was matched."""
    table = Table()
    table["FRAME"] = [f.name for f in frames]
    for key, name in FRAME_KEYS:
        table[name] = np.array([f.value(key) for f in frames], dtype=float)
        if name in _UNITS:
            table[name].unit = _UNITS[name]
    for key, name in TEXT_KEYS:
        table[name] = [f.text(key) for f in frames]
    table["N_MATCHED"] = np.array([matches[f.name].n_matched for f in frames], dtype=int)
    table["MATCHED_BY"] = [matches[f.name].how for f in frames]
    shifts = [matches[f.name].transform.shift if matches[f.name].transform else (math.nan,) * 2
              for f in frames]
    table["SHIFT_X_PIX"] = np.array([s[0] for s in shifts]) * u.pix
    table["SHIFT_Y_PIX"] = np.array([s[1] for s in shifts]) * u.pix
    return table


def star_table(reference):
    """One row per reference star: id, reference position, sky position when known."""
    columns = reference.columns
    table = Table()
    table["STAR_ID"] = columns["NUMBER"].astype(int)
    table["X_REF"] = columns["X_IMAGE"] * u.pix
    table["Y_REF"] = columns["Y_IMAGE"] * u.pix
    table["RA_DEG"] = columns["ALPHA_J2000"] * u.deg
    table["DEC_DEG"] = columns["DELTA_J2000"] * u.deg
    table["MAG_REF"] = columns["MAG_AUTO"] * u.mag
    table["FLAGS_REF"] = columns["FLAGS"]
    table["FWHM_REF"] = columns["FWHM_IMAGE"] * u.pix
    return table


def gather(frames, matches, reference, match_mode):
    """Build the :class:`StarSeries` of ``frames`` matched to ``reference``."""
    n_frames, n_stars = len(frames), len(reference)
    names = sorted({n for pair in METHODS.values() for n in pair} | set(STAR_COLUMNS))
    values = {name: np.full((n_frames, n_stars), np.nan) for name in names}
    for i, frame in enumerate(frames):
        rows = matches[frame.name].rows
        seen = rows >= 0
        for name in names:
            values[name][i, seen] = frame.columns[name][rows[seen]]
    flags = values.pop("FLAGS")
    values["FLAGS"] = np.where(np.isfinite(flags), flags, -1).astype(int)
    return StarSeries(frame_table(frames, matches), star_table(reference), values,
                      reference.name, match_mode)
