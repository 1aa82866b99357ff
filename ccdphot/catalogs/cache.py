"""On-disk cache of catalogue answers, keyed by catalogue and sky region.

One ECSV file per answer, named after what it holds
(``<catalog>/ra<deg>_dec<deg>_r<deg>_m<faint limit>.ecsv``), so no index file
can get out of step with the data. A cached circle serves any smaller query
inside it (and any brighter magnitude limit): the rows are cut to the asked
region. A file that cannot be read, is shorter than the row count it records,
or does not hold its catalogue is reported on one log line and renamed to
``*.corrupt``; the next server answer for the region rebuilds the cache.
"""

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

from ccdphot.catalogs.schema import POSITION_NAMES, within
from ccdphot.products import write_table_atomic

log = logging.getLogger(__name__)

_NAME = re.compile(r"^ra(?P<ra>[0-9.]+)_dec(?P<dec>[-+][0-9.]+)_r(?P<r>[0-9.]+)"
                   r"_m(?P<mag>[-+]?[0-9.]+|none)\.ecsv$")
# Cached circles are stored a little larger than asked, so that a frame whose
# pointing moves by a fraction of its size between nights still hits the cache.
MARGIN = 1.2


@dataclass(frozen=True)
class Region:
    """A sky circle and the faint magnitude limit of the query (None: no limit)."""

    center: SkyCoord
    radius: u.Quantity
    faint_limit_mag: float = None

    def covers(self, other):
        """True when every star of ``other`` is in this region."""
        if self.faint_limit_mag is not None and (
                other.faint_limit_mag is None or other.faint_limit_mag > self.faint_limit_mag):
            return False
        return self.center.separation(other.center) + other.radius <= self.radius * (1 + 1e-9)

    def file_name(self):
        mag = "none" if self.faint_limit_mag is None else f"{self.faint_limit_mag:.2f}"
        return (f"ra{self.center.ra.deg:09.5f}_dec{self.center.dec.deg:+09.5f}"
                f"_r{self.radius.to_value(u.deg):.5f}_m{mag}.ecsv")


def region_of(file_name):
    """The Region a cache file name describes, or None for a foreign file."""
    match = _NAME.match(file_name)
    if not match:
        return None
    mag = None if match["mag"] == "none" else float(match["mag"])
    return Region(SkyCoord(float(match["ra"]) * u.deg, float(match["dec"]) * u.deg),
                  float(match["r"]) * u.deg, mag)


class CatalogCache:
    """The cache directory of one configuration (``[catalogs] cache_dir``)."""

    def __init__(self, directory, max_age_days=0.0):
        self.directory = Path(directory).expanduser()
        self.max_age_s = float(max_age_days) * 86400.0

    def _entries(self, catalog):
        folder = self.directory / catalog
        if not folder.is_dir():
            return []
        entries = []
        for path in folder.glob("*.ecsv"):
            region = region_of(path.name)
            if region is not None:
                entries.append((region, path))
        return entries

    def is_fresh(self, path):
        """False when the file is older than ``cache_max_age_days`` (0: never stale)."""
        return self.max_age_s <= 0 or (time.time() - path.stat().st_mtime) <= self.max_age_s

    def lookup(self, catalog, region, stale_ok=False):
        """The cached rows of ``catalog`` inside ``region``, or None when not cached.

        Returns ``(table, path)``. Corrupt files are logged and skipped; stale
        files only serve when ``stale_ok`` (the server did not answer).
        """
        candidates = sorted((r.radius.to_value(u.deg), str(p), p) for r, p in
                            self._entries(catalog) if r.covers(region))
        for _, _, path in candidates:
            if not stale_ok and not self.is_fresh(path):
                log.info("cache %s is older than the configured maximum age; asking the "
                         "server again", path)
                continue
            table = self._read(catalog, path)
            if table is not None:
                cut = within(table, region.center, region.radius)
                band = table.meta.get("limit_band")
                if region.faint_limit_mag is not None and band in cut.colnames:
                    cut = cut[cut[band].filled(-99.0) <= region.faint_limit_mag]
                return cut, path
        return None

    def _read(self, catalog, path):
        """The table in a cache file, or None (logged, file set aside) when it is damaged."""
        try:
            table = Table.read(path, format="ascii.ecsv")
        except Exception as err:  # any parse failure of a damaged file means the same
            return self._set_aside(path, f"{type(err).__name__}: {err}")
        if table.meta.get("cache_rows") != len(table):
            return self._set_aside(path, f"{len(table)} rows, "
                                         f"{table.meta.get('cache_rows', 'an unknown number')} "
                                         "written")
        missing = [name for name in POSITION_NAMES if name not in table.colnames]
        if missing or table.meta.get("catalog") != catalog:
            return self._set_aside(path, f"not a {catalog} reference table: missing "
                                         f"{', '.join(missing) or 'the catalogue name'}")
        return table

    @staticmethod
    def _set_aside(path, why):
        """Rename a damaged cache file to ``*.corrupt`` (kept for inspection), say so."""
        target = path.with_name(path.name + ".corrupt")
        try:
            path.replace(target)
            where = f"moved to {target.name}"
        except OSError:
            where = "left in place"
        log.warning("cache file %s is corrupt (%s); ignored and %s, the next server answer "
                    "rebuilds it", path, why, where)
        return None

    def store(self, catalog, region, table):
        """Write ``table`` (the answer for ``region``) atomically; return its path."""
        folder = self.directory / catalog
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / region.file_name()
            stored = table.copy(copy_data=False)
            stored.meta["cache_rows"] = len(table)  # a truncated file is then detected
            write_table_atomic(stored, path, format="ascii.ecsv")
        except OSError as err:
            log.warning("cannot write the catalogue cache in %s (%s); going on without "
                        "caching", folder, err)
            return None
        log.info("cached %d %s stars in %s", len(table), catalog, path)
        return path
