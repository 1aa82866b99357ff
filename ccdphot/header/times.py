"""Times and airmass of an exposure, computed with astropy.

Every time is for the middle of the exposure. JD and MJD are UTC; HJD is the
UTC time corrected for the light travel time to the Sun's centre; BJD_TDB is the
TDB time corrected to the solar-system barycentre (Eastman et al. 2010). The
IERS tables shipped with astropy are used as they are: nothing is downloaded.
"""

import logging
from contextlib import contextmanager

from astropy import units as u
from astropy.coordinates import AltAz, EarthLocation, SkyCoord
from astropy.time import Time
from astropy.utils import iers

log = logging.getLogger(__name__)


@contextmanager
def offline_iers():
    """Use astropy's bundled IERS data only (catalogue servers are unreachable)."""
    with iers.conf.set_temp("auto_download", False), \
            iers.conf.set_temp("iers_degraded_accuracy", "warn"):
        yield


def site_location(longitude_east_deg, latitude_deg, altitude_m=0.0):
    """An EarthLocation from geodetic coordinates (longitude positive East)."""
    return EarthLocation.from_geodetic(longitude_east_deg * u.deg, latitude_deg * u.deg,
                                       altitude_m * u.m)


def mid_exposure(start, exptime_s):
    """Middle of an exposure that started at ``start`` (a Time) and lasted ``exptime_s``."""
    return start + (float(exptime_s) / 2.0) * u.s


def exposure_times(mid, target=None, location=None):
    """JD/MJD (UTC), HJD (UTC) and BJD_TDB of a mid-exposure Time, as floats in days.

    ``target`` (SkyCoord) is needed for HJD and BJD_TDB; without ``location``
    the geocentre is used (the error is below 0.03 s).
    """
    times = {"JD": float(mid.utc.jd), "MJD": float(mid.utc.mjd)}
    if target is None:
        return times
    with offline_iers():
        if location is None:
            location = EarthLocation.from_geocentric(0.0, 0.0, 0.0, unit=u.m)
        when = Time(mid, location=location)
        helio = when.light_travel_time(target, kind="heliocentric")
        bary = when.light_travel_time(target, kind="barycentric")
        times["HJD"] = float((when.utc + helio).jd)
        times["BJD_TDB"] = float((when.tdb + bary).jd)
    return times


def airmass(mid, target, location):
    """sec(z) of ``target`` seen from ``location`` at ``mid``; None below the horizon."""
    with offline_iers():
        altaz = SkyCoord(target).transform_to(AltAz(obstime=mid, location=location))
    if altaz.alt <= 0 * u.deg:
        log.warning("target is below the horizon at mid-exposure (altitude %.1f deg): "
                    "no airmass", altaz.alt.deg)
        return None
    return float(altaz.secz)
