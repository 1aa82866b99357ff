"""The target's calibrated point, or an upper limit: what a follow-up network submits.

The target comes from ``--target RA DEC``, ``[target] coordinates``, or the
header OBJECT looked up in a local list (``[target] objects_file``) — never a
name resolver over the network. The nearest calibrated star within the match
radius is the target's measurement; without one the frame's 5-sigma limiting
magnitude is reported as an upper limit, marked ``is_upper_limit``.
"""

import logging
import math

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time

from ccdphot.errors import ConfigError, InputError
from ccdphot.header.times import exposure_times, site_location

log = logging.getLogger(__name__)

TARGET_JSON = "target.json"
TARGET_ECSV = "target.ecsv"


def parse_coordinates(ra, dec):
    """SkyCoord from RA/Dec text: degrees, or sexagesimal hours and degrees."""
    try:
        return SkyCoord(float(ra) * u.deg, float(dec) * u.deg)
    except ValueError:
        pass
    try:
        return SkyCoord(str(ra), str(dec), unit=(u.hourangle, u.deg))
    except ValueError as err:
        raise ConfigError(f"target position {ra!r} {dec!r} is not RA DEC in degrees or "
                          f"sexagesimal (e.g. 301.5 35.8 or 20:06:00 +35:48:00): {err}") from err


def _normalised(name):
    return "".join(str(name).split()).casefold()


def lookup_object(name, objects_file):
    """(name, SkyCoord) of ``name`` in a local list (columns name, ra, dec in degrees)."""
    try:
        table = Table.read(objects_file, format="ascii.ecsv" if str(objects_file).endswith(
            ".ecsv") else "ascii.csv")
    except (OSError, ValueError) as err:
        raise InputError(f"[target] objects_file {objects_file}: cannot read it as CSV/ECSV "
                         f"with columns name, ra, dec ({err})") from err
    missing = [c for c in ("name", "ra", "dec") if c not in table.colnames]
    if missing:
        raise InputError(f"[target] objects_file {objects_file} has no column "
                         f"{', '.join(missing)}; give name, ra, dec (degrees)")
    wanted = _normalised(name)
    for row in table:
        if _normalised(row["name"]) == wanted:
            return str(row["name"]), parse_coordinates(row["ra"], row["dec"])
    return None


def resolve_target(settings, coordinates=None, header_object=None):
    """(name, SkyCoord, where from) of the target, or None when no target is asked for.

    ``coordinates`` are the ``--target RA DEC`` strings; ``settings`` is ``[target]``.
    """
    name = settings["name"] or header_object or "target"
    if coordinates:
        return name, parse_coordinates(*coordinates), "--target"
    if settings["coordinates"].strip():
        parts = settings["coordinates"].split()
        if len(parts) != 2:
            raise ConfigError(f"[target] coordinates = {settings['coordinates']!r}: give "
                              "\"RA DEC\"")
        return name, parse_coordinates(*parts), "[target] coordinates"
    if settings["objects_file"] and header_object:
        found = lookup_object(header_object, settings["objects_file"])
        if found is None:
            raise InputError(f"OBJECT={header_object!r} is not in [target] objects_file "
                             f"{settings['objects_file']}; add it or give --target RA DEC")
        return found[0], found[1], f"OBJECT in {settings['objects_file']}"
    return None


def measure_target(table, coord, radius_arcsec, limit_mag):
    """The target's row figures: detected point, or an upper limit from ``limit_mag``."""
    record = {"ra_deg": round(coord.ra.deg, 7), "dec_deg": round(coord.dec.deg, 7)}
    has = ~(np.ma.getmaskarray(table["ALPHA_J2000"]) | np.ma.getmaskarray(table["MAG_CAL"]))
    rows = np.flatnonzero(has)
    if len(rows):
        stars = SkyCoord(np.asarray(table["ALPHA_J2000"][rows], float) * u.deg,
                         np.asarray(table["DELTA_J2000"][rows], float) * u.deg)
        separation = coord.separation(stars).arcsec
        best = int(np.argmin(separation))
        if separation[best] <= radius_arcsec:
            row = rows[best]
            record.update(detected=True, is_upper_limit=False,
                          number=int(table["NUMBER"][row]),
                          separation_arcsec=round(float(separation[best]), 3),
                          mag_cal=round(float(table["MAG_CAL"][row]), 4),
                          magerr_cal=round(float(table["MAGERR_CAL"][row]), 4),
                          flags_cal=int(table["FLAGS_CAL"][row]))
            return record
    record.update(detected=False, is_upper_limit=limit_mag is not None,
                  mag_cal=None if limit_mag is None else round(float(limit_mag), 3),
                  magerr_cal=None,
                  note=f"not detected within {radius_arcsec:.2f} arcsec: mag_cal is the "
                       "5-sigma limiting magnitude (an upper limit)" if limit_mag is not None
                  else "not detected and no limiting magnitude could be measured")
    return record


def exposure_record(header_values, coord):
    """Mid-exposure JD_UTC and BJD_TDB for the target, and the exposure time.

    ``header_values`` maps JD (UTC, mid exposure), EXPTIME, SITELAT, SITELONG,
    SITEELEV (the standardised header) to values or None.
    """
    jd = header_values.get("JD")
    record = {"exptime_s": header_values.get("EXPTIME"), "jd_utc_mid": None,
              "bjd_tdb_mid": None}
    if jd is None:
        return record
    mid = Time(float(jd), format="jd", scale="utc")
    lat, lon = header_values.get("SITELAT"), header_values.get("SITELONG")
    location = None
    if lat is not None and lon is not None:
        location = site_location(float(lon), float(lat), float(header_values.get("SITEELEV")
                                                               or 0.0))
    times = exposure_times(mid, coord, location)
    record.update(jd_utc_mid=round(times["JD"], 7), bjd_tdb_mid=round(times["BJD_TDB"], 7))
    return record


def target_table(record):
    """The one-row table of a target record (units in the column names and units)."""
    columns = {
        "TARGET": [record["target"]], "ALPHA_J2000": [record["ra_deg"]] * u.deg,
        "DELTA_J2000": [record["dec_deg"]] * u.deg,
        "MAG_CAL": [_nan(record["mag_cal"])] * u.mag,
        "MAGERR_CAL": [_nan(record["magerr_cal"])] * u.mag,
        "IS_UPPER_LIMIT": [bool(record["is_upper_limit"])],
        "BAND": [record["band"] or ""], "SYSTEM": [record["system"] or ""],
        "JD_UTC": [_nan(record["jd_utc_mid"])] * u.day,
        "BJD_TDB": [_nan(record["bjd_tdb_mid"])] * u.day,
        "EXPTIME_S": [_nan(record["exptime_s"])] * u.s,
    }
    table = Table(columns)
    table.meta.update({k: v for k, v in record.items() if k.startswith("zp_")})
    return table


def _nan(value):
    return math.nan if value is None else float(value)
