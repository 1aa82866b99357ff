"""The calibrated point of one processed frame, read from its products.

The one place where the server reads what the engine wrote for a job: the
unified table's meta and the run record through
:func:`ccdphot.products.read_frame_products` (schema-checked), and the
target's point or upper limit from ``target.json`` (the zeropoint step).
"""

import json
import logging
import math

from ccdphot.errors import InputError
from ccdphot.products import read_frame_products
from ccdphot.zeropoint.target import TARGET_JSON

log = logging.getLogger(__name__)

# Point columns filled from target.json (calibration figures) and their keys there.
_FROM_TARGET = (("band", "band"), ("system", "system"), ("bjd_tdb", "bjd_tdb_mid"),
                ("jd_utc", "jd_utc_mid"), ("exptime_s", "exptime_s"), ("zp_mag", "zp_mag"),
                ("zp_err_mag", "zp_error_mag"), ("zp_scatter_mag", "zp_scatter_mag"),
                ("zp_n_stars", "zp_n_stars"), ("zp_outlier_fraction", "zp_outlier_fraction"),
                ("zp_quality", "zp_quality"))
TELESCOPE_KEYS = ("OBSERVAT", "TELESCOP", "INSTRUME")


def _number(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def telescope_label(meta, profile=None):
    """'Observatory / telescope / instrument' from the standardised header, else the profile."""
    parts = [str(meta[key]).strip() for key in TELESCOPE_KEYS if str(meta.get(key) or "").strip()]
    return " / ".join(parts) or profile or "unknown telescope"


def frame_point(frame_dir, profile=None):
    """The point of one frame's products as Point column values, or None.

    None when the frame has no target record (the zeropoint step did not run,
    e.g. the frame failed before it); a frame that could not be calibrated gives
    a point with ``calibrated`` False and no magnitude.
    """
    try:
        table, _ = read_frame_products(frame_dir)
        target = json.loads((frame_dir / TARGET_JSON).read_text())
    except FileNotFoundError:
        return None
    except (InputError, ValueError) as err:
        log.warning("%s: no point (%s)", frame_dir.name, err)
        return None
    meta = table.meta
    calibrated = bool(target.get("calibrated")) and target.get("mag_cal") is not None
    point = {"calibrated": calibrated,
             "is_upper_limit": bool(target.get("is_upper_limit")) and calibrated,
             "mag": _number(target.get("mag_cal")) if calibrated else None,
             "mag_err": _number(target.get("magerr_cal")) if calibrated else None,
             "airmass": _number(meta.get("AIRMASS")),
             "filter": str(meta.get("FILTER") or "") or None,
             "telescope": telescope_label(meta, profile),
             "record": target}
    for column, key in _FROM_TARGET:
        value = target.get(key)
        point[column] = value if isinstance(value, str) or value is None else _number(value)
    if point["zp_n_stars"] is not None:
        point["zp_n_stars"] = int(point["zp_n_stars"])
    return point
