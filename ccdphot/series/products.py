"""The per-frame products of many frames, as light curves need them.

The only place where the light-curve code touches what the engine wrote, and
it reads the products only (``ccdphot.products.read_frame_products``, which
checks the schema version), so RESULTS made earlier, elsewhere or by a batch
on a cluster work the same. A frame that cannot be used (failed, unreadable,
another schema, no time) becomes a :class:`Rejection` naming it; the others go on.
"""

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ccdphot.errors import InputError
from ccdphot.products import PHOTOMETRY_ECSV, PHOTOMETRY_SCHEMA, RUN_JSON, read_frame_products

log = logging.getLogger(__name__)

SUPPORTED_SCHEMAS = (PHOTOMETRY_SCHEMA,)
# Columns the light curves use; missing ones are read as all-missing.
FLOAT_COLUMNS = ("ALPHA_J2000", "DELTA_J2000", "X_IMAGE", "Y_IMAGE", "X_PSF", "Y_PSF",
                 "MAG_PSF", "MAGERR_PSF", "MAG_APER", "MAGERR_APER", "MAG_AUTO", "MAGERR_AUTO",
                 "FWHM_IMAGE", "MAG_CAL", "MAGERR_CAL")
INT_COLUMNS = ("NUMBER", "FLAGS")
# Meta keys copied to the per-frame table of a series, with the series' column name.
FRAME_KEYS = (("JD_UTC_MID", "JD_UTC"), ("MJD_UTC_MID", "MJD_UTC"), ("HJD_UTC_MID", "HJD_UTC"),
              ("BJD_TDB_MID", "BJD_TDB"), ("EXPTIME_S", "EXPTIME_S"), ("AIRMASS", "AIRMASS"),
              ("SEEING_FWHM_PIX", "SEEING_FWHM_PIX"), ("SEEING_FWHM_ARCSEC", "SEEING_FWHM_ARCSEC"),
              ("BACKGROUND_ADU", "SKY_ADU"), ("BACKGROUND_RMS_ADU", "SKY_RMS_ADU"),
              ("RA_DEG", "POINTING_RA_DEG"), ("DEC_DEG", "POINTING_DEC_DEG"),
              ("NAXIS1", "NAXIS1"), ("NAXIS2", "NAXIS2"), ("ZP_MAG", "ZP_MAG"),
              ("ZP_ERR_MAG", "ZP_ERR_MAG"))
TEXT_KEYS = (("FILTER", "FILTER"), ("OBJECT", "OBJECT"), ("TELESCOP", "TELESCOP"),
             ("INSTRUME", "INSTRUME"), ("OBSERVAT", "OBSERVAT"), ("DATE_OBS_UTC", "DATE_OBS_UTC"),
             ("ZP_BAND", "ZP_BAND"), ("ZP_CATALOG", "ZP_CATALOG"))


@dataclass
class FrameProducts:
    """One frame's photometry as plain arrays (NaN where missing) and its meta."""

    name: str
    path: Path
    status: str
    meta: dict
    columns: dict = field(repr=False)
    has_wcs: bool = False

    def __len__(self):
        return len(self.columns["NUMBER"])

    def value(self, key):
        """A meta value as float (NaN when absent or not a number)."""
        value = self.meta.get(key)
        try:
            number = float(value)
        except (TypeError, ValueError):
            return math.nan
        return number if math.isfinite(number) else math.nan

    def text(self, key):
        """A meta value as stripped text ('' when absent)."""
        value = self.meta.get(key)
        return "" if value is None else str(value).strip()


@dataclass
class Rejection:
    """A frame left out of the series, and why (one line naming the frame)."""

    name: str
    reason: str


def frame_dirs(paths):
    """Frame product directories under the given RESULTS roots or frame directories.

    A path holding ``photometry.ecsv`` or ``run.json`` is a frame directory;
    otherwise its sub-directories that hold one are. Sorted by name, duplicates dropped.
    """
    found = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise InputError(f"{path}: no such results directory; give RESULTS directories "
                             "written by 'ccdphot run' (or single frame directories in them)")
        if (path / PHOTOMETRY_ECSV).exists() or (path / RUN_JSON).exists():
            found.append(path)
            continue
        children = sorted(p for p in path.iterdir()
                          if p.is_dir() and ((p / PHOTOMETRY_ECSV).exists()
                                             or (p / RUN_JSON).exists()))
        if not children:
            raise InputError(f"{path}: holds no frame products (no */{PHOTOMETRY_ECSV}); "
                             "give the --out directory of 'ccdphot run'")
        found.extend(children)
    unique = {p.resolve(): p for p in found}
    return sorted(unique.values(), key=lambda p: (p.name, str(p)))


def _arrays(table):
    """Column arrays of a unified table: floats with NaN, integers with -1 where missing."""
    columns = {}
    for name in INT_COLUMNS:
        values = table[name] if name in table.colnames else np.ma.masked_all(len(table), int)
        columns[name] = np.ma.filled(np.ma.asarray(values).astype(int), -1)
    for name in FLOAT_COLUMNS:
        values = table[name] if name in table.colnames else np.ma.masked_all(len(table), float)
        columns[name] = np.ma.filled(np.ma.asarray(values).astype(float), np.nan)
    return columns


def read_frame(directory):
    """One frame directory as :class:`FrameProducts`, or a :class:`Rejection` saying why not."""
    directory = Path(directory)
    try:
        table, record = read_frame_products(directory, accept=SUPPORTED_SCHEMAS)
    except InputError as err:
        return Rejection(directory.name, str(err))
    status = str(record.get("status", ""))
    if not status or status.startswith("failed"):
        return Rejection(directory.name, f"{directory.name}: frame status is "
                         f"'{status or 'missing'}'; rerun the frame")
    meta = dict(table.meta)
    name = str(meta.get("FRAME") or directory.name)
    frame = FrameProducts(name=name, path=directory, status=status, meta=meta,
                          columns=_arrays(table), has_wcs=bool(meta.get("HAS_WCS")))
    if not math.isfinite(frame.value("JD_UTC_MID")) and not math.isfinite(frame.value("BJD_TDB_MID")):
        return Rejection(name, f"{name}: no observation time (JD_UTC_MID / BJD_TDB_MID absent "
                         "from the product meta); rerun 'ccdphot run' with DATE-OBS known, "
                         "e.g. --set DATE-OBS=... or a telescope profile")
    return frame


def read_results(paths):
    """Read every frame under ``paths``: (frames sorted by time, rejections)."""
    frames, rejected = [], []
    for directory in frame_dirs(paths):
        result = read_frame(directory)
        if isinstance(result, Rejection):
            log.warning("%s", result.reason)
            rejected.append(result)
        else:
            frames.append(result)
    frames.sort(key=lambda f: (frame_time(f), f.name))
    return frames, rejected


def frame_time(frame):
    """Mid-exposure JD (UTC), from BJD_TDB when only that is known (to order frames)."""
    jd = frame.value("JD_UTC_MID")
    return jd if math.isfinite(jd) else frame.value("BJD_TDB_MID")
