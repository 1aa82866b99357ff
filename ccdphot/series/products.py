"""Read the per-frame products (``photometry.ecsv`` + ``run.json``) of many frames.

This is the only place where the light-curve code touches what the engine
wrote, and it reads the products only (the contract of DESIGN.md), so RESULTS
made earlier, elsewhere or by a batch on a cluster work the same. The table's
meta carries ``CCDPHOT_SCHEMA``; this reader accepts the versions in
``SUPPORTED_SCHEMAS`` and refuses others with an error naming the frame.

Speed matters here (a light curve of a thousand frames reads a thousand
tables), and ``Table.read(format="ascii.ecsv")`` takes ~0.1 s per frame: its YAML
header goes through the pure-Python YAML parser (~0.11 s for a product's ~60
header lines) and its body through the pure-Python table reader. So the header
is parsed with PyYAML's libyaml loader (~4 ms; astropy's own YAML reader is the
fallback for tags only it knows) and the body with astropy's fast C reader.
"""

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from astropy.io import ascii as astropy_ascii
from astropy.table import meta as table_meta

from ..errors import InputError
from ..products import PHOTOMETRY_ECSV, RUN_JSON

log = logging.getLogger(__name__)

SUPPORTED_SCHEMAS = (1,)
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


def _read_status(directory):
    path = directory / RUN_JSON
    if not path.exists():
        return None, f"{directory.name}: no {RUN_JSON} (the frame was not finished by 'ccdphot run')"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return None, f"{directory.name}: {RUN_JSON} unreadable ({err}); rerun the frame"
    status = str(record.get("status", ""))
    schema = record.get("schema")
    if schema is not None and schema not in SUPPORTED_SCHEMAS:
        return None, _schema_message(directory.name, RUN_JSON, schema)
    if status.startswith("failed") or not status:
        return None, f"{directory.name}: frame status is '{status or 'missing'}'; rerun the frame"
    return status, None


def _schema_message(name, what, schema):
    accepted = ", ".join(map(str, SUPPORTED_SCHEMAS))
    return (f"{name}: {what} has product schema {schema!r}; this ccdphot reads schema "
            f"{accepted}: rerun 'ccdphot run' on the frame with this version")


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _ecsv_header(lines):
    """The ECSV header dict from its comment lines (without the '%ECSV' line)."""
    text = "\n".join(line[2:] for line in lines)
    try:
        header = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError:  # astropy-specific tags (e.g. a Quantity in meta)
        return table_meta.get_header_from_yaml(line[2:] for line in lines)
    meta = header.get("meta") or {}
    header["meta"] = dict(meta) if isinstance(meta, list) else meta  # !!omap -> pairs
    return header


def _read_ecsv(path):
    """(column arrays, meta) of a ccdphot ECSV table, masked values as NaN / -1."""
    lines = path.read_text().splitlines()
    n_header = 0
    while n_header < len(lines) and lines[n_header].startswith("#"):
        n_header += 1
    header = _ecsv_header(lines[1:n_header])
    meta = dict(header.get("meta") or {})
    names = [column["name"] for column in header["datatype"]]
    body = lines[n_header:]
    if len(body) <= 1:  # column names only: a frame without detections
        data = {name: np.empty(0) for name in names}
    else:
        table = astropy_ascii.read(body, format="basic", guess=False, fast_reader=True,
                                   delimiter=header.get("delimiter", " "))
        data = {name: table[name] for name in table.colnames}
    if "NUMBER" not in data:
        raise ValueError("no NUMBER column")
    size = len(data["NUMBER"])
    columns = {}
    for name in INT_COLUMNS:
        values = data.get(name)
        columns[name] = (np.full(size, -1, int) if values is None
                         else np.ma.filled(np.ma.asarray(values).astype(int), -1))
    for name in FLOAT_COLUMNS:
        values = data.get(name)
        columns[name] = (np.full(size, np.nan) if values is None
                         else np.ma.filled(np.ma.asarray(values).astype(float), np.nan))
    return columns, meta


def read_frame_products(directory):
    """Read one frame directory; return :class:`FrameProducts` or a :class:`Rejection`."""
    directory = Path(directory)
    status, problem = _read_status(directory)
    if problem:
        return Rejection(directory.name, problem)
    path = directory / PHOTOMETRY_ECSV
    if not path.exists():
        return Rejection(directory.name, f"{directory.name}: status '{status}' but no "
                         f"{PHOTOMETRY_ECSV} (the frame stopped before detection)")
    try:
        columns, meta = _read_ecsv(path)
    except Exception as err:  # the YAML and CSV readers raise many types
        return Rejection(directory.name, f"{directory.name}: {PHOTOMETRY_ECSV} unreadable "
                         f"({type(err).__name__}: {err}); rerun the frame")
    schema = meta.get("CCDPHOT_SCHEMA")
    if schema not in SUPPORTED_SCHEMAS:
        return Rejection(directory.name, _schema_message(
            directory.name, PHOTOMETRY_ECSV, "none" if schema is None else schema))
    name = str(meta.get("FRAME") or directory.name)
    frame = FrameProducts(name=name, path=directory, status=status, meta=meta,
                          columns=columns, has_wcs=bool(meta.get("HAS_WCS")))
    if not math.isfinite(frame.value("JD_UTC_MID")) and not math.isfinite(frame.value("BJD_TDB_MID")):
        return Rejection(name, f"{name}: no observation time (JD_UTC_MID / BJD_TDB_MID absent "
                         "from the product meta); rerun 'ccdphot run' with DATE-OBS known, "
                         "e.g. --set DATE-OBS=... or a telescope profile")
    return frame


def read_results(paths):
    """Read every frame under ``paths``: (frames sorted by time, rejections)."""
    frames, rejected = [], []
    for directory in frame_dirs(paths):
        result = read_frame_products(directory)
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
