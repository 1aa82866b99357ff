"""Barycentric times of the target rather than of the frame's pointing.

The engine writes BJD_TDB for the pointing (the header's RA/DEC); a target
elsewhere in the field differs by the change of light-travel time across it,
up to ~8 s for a field 1 degree wide. When the target's sky position is known
the difference is added (computed at the geocentre: the observatory's place
changes it by less than 21 ms); a frame without BJD_TDB but with JD_UTC gets
its BJD_TDB computed the same way.
"""

import logging

import numpy as np
from astropy import units as u
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.time import Time

log = logging.getLogger(__name__)

_GEOCENTRE = EarthLocation.from_geocentric(0.0, 0.0, 0.0, unit=u.m)


def target_bjd_tdb(jd_utc, bjd_tdb_pointing, pointing_ra, pointing_dec, target):
    """BJD_TDB (days) at the target per frame; the pointing's value when ``target`` is None."""
    jd_utc = np.asarray(jd_utc, float)
    bjd = np.asarray(bjd_tdb_pointing, float).copy()
    if target is None:
        return bjd
    known_jd = np.isfinite(jd_utc)
    if not known_jd.any():
        return bjd
    times = Time(np.where(known_jd, jd_utc, np.nanmean(jd_utc)), format="jd", scale="utc")
    to_target = times.light_travel_time(target, location=_GEOCENTRE).to_value(u.day)
    pointing_known = np.isfinite(pointing_ra) & np.isfinite(pointing_dec) & np.isfinite(bjd)
    if pointing_known.any():
        pointing = SkyCoord(np.where(pointing_known, pointing_ra, 0.0) * u.deg,
                            np.where(pointing_known, pointing_dec, 0.0) * u.deg)
        to_pointing = times.light_travel_time(pointing, location=_GEOCENTRE).to_value(u.day)
        bjd = np.where(pointing_known, bjd + to_target - to_pointing, bjd)
    missing = ~np.isfinite(bjd) & known_jd
    if missing.any():
        bjd[missing] = times.tdb.jd[missing] + to_target[missing]
    return bjd
