"""A target's light curve: every calibrated point of every telescope, each labelled.

:func:`lightcurve_table` is the one source of the light curve: the points
copied from the frames' products when their jobs ended (``points.py``),
joined with who uploaded them. The JSON, CSV, AAVSO and plot outputs are
made from that table; the AAVSO file by the light curves' own writer.
"""

import io
import logging
import math

import numpy as np
from astropy import units as u
from astropy.table import Column, Table
from sqlalchemy import func, select

from ccdphot import __version__
from ccdphot.series.aavso import aavso_band_code, aavso_extended
from ccdphot.server.models import DONE, Observer, Point, Upload

log = logging.getLogger(__name__)

# (column, unit, Point attribute or None for the joined ones)
COLUMNS = (
    ("BJD_TDB", u.day, "bjd_tdb"), ("JD_UTC", u.day, "jd_utc"), ("MAG_CAL", u.mag, "mag"),
    ("MAGERR_CAL", u.mag, "mag_err"), ("IS_UPPER_LIMIT", None, "is_upper_limit"),
    ("BAND", None, "band"), ("SYSTEM", None, "system"), ("FILTER", None, "filter"),
    ("TELESCOPE", None, "telescope"), ("OBSERVER", None, None), ("JOB", None, None),
    ("EXPTIME_S", None, "exptime_s"), ("AIRMASS", None, "airmass"),
    ("ZP_MAG", u.mag, "zp_mag"), ("ZP_ERR_MAG", u.mag, "zp_err_mag"),
    ("ZP_SCATTER_MAG", u.mag, "zp_scatter_mag"), ("ZP_N_STARS", None, "zp_n_stars"),
    ("ZP_OUTLIER_FRACTION", None, "zp_outlier_fraction"), ("ZP_QUALITY", None, "zp_quality"),
)
_NUMERIC = {"BJD_TDB", "JD_UTC", "MAG_CAL", "MAGERR_CAL", "EXPTIME_S", "AIRMASS", "ZP_MAG",
            "ZP_ERR_MAG", "ZP_SCATTER_MAG", "ZP_OUTLIER_FRACTION"}
def _value(name, value):
    if name in _NUMERIC:
        return math.nan if value is None else float(value)
    if name == "ZP_N_STARS":
        return -1 if value is None else int(value)
    if name == "IS_UPPER_LIMIT":
        return bool(value)
    return "" if value is None else str(value)


def _dtype(name):
    if name in _NUMERIC:
        return float
    return {"ZP_N_STARS": int, "IS_UPPER_LIMIT": bool}.get(name, str)


def lightcurve_table(session, target):
    """The calibrated points of ``target`` by time: one row per frame, units attached."""
    rows = session.execute(
        select(Point, Upload.id, Observer.name)
        .join(Upload, Point.upload_id == Upload.id)
        .join(Observer, Upload.observer_id == Observer.id)
        .where(Point.target_id == target.id, Point.calibrated.is_(True),
               Upload.status == DONE)
        .order_by(Point.bjd_tdb)).all()
    data = {name: [] for name, _, _ in COLUMNS}
    for point, job_id, observer in rows:
        for name, _, attribute in COLUMNS:
            value = {"OBSERVER": observer, "JOB": job_id}.get(name) if attribute is None \
                else getattr(point, attribute)
            data[name].append(_value(name, value))
    table = Table([Column(data[name], name=name, dtype=_dtype(name), unit=unit)
                   for name, unit, _ in COLUMNS])
    table.meta.update(TARGET=target.name, RA_DEG=target.ra_deg, DEC_DEG=target.dec_deg,
                      CCDPHOT_VERSION=__version__,
                      NOTE="MAG_CAL is the 5-sigma limiting magnitude where IS_UPPER_LIMIT")
    return table


def count_points(session, target):
    """Number of calibrated points (and limits) of ``target``."""
    return session.scalar(select(func.count()).select_from(Point).join(
        Upload, Point.upload_id == Upload.id).where(
        Point.target_id == target.id, Point.calibrated.is_(True), Upload.status == DONE)) or 0


def _json_value(value):
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def lightcurve_json(table):
    """The light curve as a JSON-ready dict: target, column units, one object per point."""
    return {"target": {"name": table.meta["TARGET"], "ra_deg": table.meta["RA_DEG"],
                       "dec_deg": table.meta["DEC_DEG"]},
            "n_points": len(table),
            "units": {name: str(table[name].unit) for name in table.colnames
                      if table[name].unit is not None},
            "points": [{name: _json_value(row[name]) for name in table.colnames}
                       for row in table]}


def lightcurve_csv(table):
    stream = io.StringIO()
    table.write(stream, format="ascii.csv")
    return stream.getvalue()


def _notes(row):
    """Who measured the point and how it was calibrated (the AAVSO NOTES field)."""
    return (f"telescope {row['TELESCOPE']}; observer {row['OBSERVER']}; zero point "
            f"{row['ZP_MAG']:.3f} +- {row['ZP_ERR_MAG']:.3f} mag from {row['ZP_N_STARS']} "
            f"stars ({row['ZP_QUALITY'] or 'na'})")


def lightcurve_aavso(table, obscode="na"):
    """The AAVSO Extended File Format text (:func:`ccdphot.series.aavso.aavso_extended`):
    standard magnitudes, limits marked '<', each row's band code and calibration notes."""
    rows = table[np.isfinite(table["JD_UTC"]) & np.isfinite(table["MAG_CAL"])]
    submission = Table({"JD_UTC": rows["JD_UTC"], "DMAG": rows["MAG_CAL"],
                        "DMAG_ERR": rows["MAGERR_CAL"], "MAG_CAL_ENS": rows["MAG_CAL"],
                        "AIRMASS": rows["AIRMASS"], "FILTER": rows["FILTER"],
                        "AAVSO_FILTER": [aavso_band_code(band) for band in rows["BAND"]],
                        "IS_UPPER_LIMIT": rows["IS_UPPER_LIMIT"],
                        "NOTES": [_notes(row) for row in rows]})
    return aavso_extended(submission, table.meta["TARGET"], obscode=obscode)
