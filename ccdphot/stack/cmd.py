"""``ccdphot cmd``: a colour-magnitude diagram from two frames of one field in two filters.

Reads the products of two ``ccdphot run`` results (``photometry.ecsv``, whose
meta describes the frame: FILTER, PIXSCALE_ARCSEC; docs/products.rst), pairs their stars by
sky position (mutual nearest neighbours) and writes ``cmd.ecsv`` (one row per
star in both) and ``cmd.png``. Magnitudes are calibrated (MAG_CAL) when both
frames have a zero point, else the best instrumental magnitude both have
(PSF, aperture, AUTO); the table meta and the axis labels say which.
"""

import logging
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

from ccdphot.errors import InputError
from ccdphot.plots.cmd import plot_cmd
from ccdphot.products import read_frame_products, write_table_atomic

log = logging.getLogger(__name__)

CMD_TABLE = "cmd.ecsv"
CMD_PLOT = "cmd.png"
_INSTRUMENTAL = ("MAG_PSF", "MAG_APER", "MAG_AUTO")
# Fewer pairs than this, or than this fraction of the smaller list, means two fields.
_MIN_PAIRS = 10
_MIN_PAIRED_FRACTION = 0.1


def read_band(results_dir):
    """The unified table of a RESULTS folder, with its filter and frame name in meta."""
    results_dir = Path(results_dir)
    table, _ = read_frame_products(results_dir)
    if not np.isfinite(_values(table, "ALPHA_J2000")).any():
        raise InputError(f"{results_dir}: no sky positions (the frame had no WCS); run it with "
                         "the astrometry step or give frames with a WCS")
    table.meta["frame"] = table.meta.get("FRAME", results_dir.name)
    if not table.meta.get("FILTER"):
        log.warning("%s: no FILTER; the band is named after the frame", results_dir)
    table.meta["filter"] = table.meta.get("FILTER") or table.meta["frame"]
    return table


def _values(table, name):
    if name not in table.colnames:
        return np.full(len(table), np.nan)
    return np.asarray(np.ma.filled(np.ma.asarray(table[name]).astype(float), np.nan))


def choose_magnitude(first, second):
    """("MAG_CAL", "calibrated") when both have it, else the best instrumental both have."""
    for name in ("MAG_CAL",) + _INSTRUMENTAL:
        if all(np.isfinite(_values(t, name)).any() for t in (first, second)):
            return name, "calibrated" if name == "MAG_CAL" else "instrumental"
    raise InputError(f"{first.meta['frame']} and {second.meta['frame']} share no magnitude "
                     "column with values")


def _coords(table):
    return SkyCoord(_values(table, "ALPHA_J2000") * u.deg, _values(table, "DELTA_J2000") * u.deg)


def match_by_sky(first, second, radius_arcsec):
    """Row pairs (i_first, i_second) of mutual nearest stars closer than the radius."""
    ok1 = np.flatnonzero(np.isfinite(_values(first, "ALPHA_J2000")))
    ok2 = np.flatnonzero(np.isfinite(_values(second, "ALPHA_J2000")))
    c1, c2 = _coords(first[ok1]), _coords(second[ok2])
    to2, sep, _ = c1.match_to_catalog_sky(c2)
    to1, _, _ = c2.match_to_catalog_sky(c1)
    mutual = (to1[to2] == np.arange(len(c1))) & (sep <= radius_arcsec * u.arcsec)
    return ok1[mutual], ok2[to2[mutual]]


def _default_radius(first, second):
    scales = [t.meta.get("PIXSCALE_ARCSEC") for t in (first, second)]
    scales = [s for s in scales if s]
    return max(1.0, 1.5 * max(scales)) if scales else 2.0


def build_cmd(first, second, radius_arcsec=None):
    """The CMD table of two unified tables (see the module docstring)."""
    f1, f2 = first.meta["filter"], second.meta["filter"]
    if f1 == f2:
        raise InputError(f"{first.meta['frame']} and {second.meta['frame']} are both in filter "
                         f"{f1}: a colour-magnitude diagram needs two filters")
    radius = radius_arcsec or _default_radius(first, second)
    column, kind = choose_magnitude(first, second)
    i1, i2 = match_by_sky(first, second, radius)
    smaller = min(np.isfinite(_values(t, column)).sum() for t in (first, second))
    if len(i1) < _MIN_PAIRS or len(i1) < _MIN_PAIRED_FRACTION * smaller:
        raise InputError(f"only {len(i1)} stars of {first.meta['frame']} have a counterpart in "
                         f"{second.meta['frame']} within {radius:.2f} arcsec: frames of "
                         "different fields? (or raise --radius-arcsec)")
    error = "MAGERR" + column[3:]
    m1, m2 = _values(first, column)[i1], _values(second, column)[i2]
    table = Table({"ALPHA_J2000": _values(first, "ALPHA_J2000")[i1] * u.deg,
                   "DELTA_J2000": _values(first, "DELTA_J2000")[i1] * u.deg,
                   f"MAG_{f1}": m1 * u.mag, f"MAGERR_{f1}": _values(first, error)[i1] * u.mag,
                   f"MAG_{f2}": m2 * u.mag, f"MAGERR_{f2}": _values(second, error)[i2] * u.mag,
                   "COLOUR": (m1 - m2) * u.mag})
    table = table[np.isfinite(m1) & np.isfinite(m2)]
    described = {f"MAG_{f1}": f"{kind} {column} in {f1}", f"MAG_{f2}": f"{kind} {column} in {f2}",
                 "COLOUR": f"{f1} - {f2} ({kind})"}
    for name, text in described.items():
        table[name].description = text
    table.meta.update(magnitudes=kind, column=column, filters=[f1, f2],
                      frames=[first.meta["frame"], second.meta["frame"]],
                      match_radius_arcsec=round(radius, 3))
    return table


def write_cmd(first_dir, second_dir, out_dir, radius_arcsec=None):
    """Match two RESULTS folders and write cmd.ecsv and cmd.png into ``out_dir``."""
    table = build_cmd(read_band(first_dir), read_band(second_dir), radius_arcsec)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [write_table_atomic(table, out_dir / CMD_TABLE, format="ascii.ecsv"),
             plot_cmd(table, out_dir / CMD_PLOT)]
    log.info("CMD of %s: %d stars (%s)", " and ".join(table.meta["frames"]), len(table),
             table.meta["magnitudes"])
    return {"n_matched": len(table), "magnitudes": table.meta["magnitudes"], "files": files,
            "table": table}
