"""What the server adds on its Dask workers to the batch machinery's: an early start
on astropy's Earth-orientation tables.

Loading them takes about 1 s of CPU (several seconds on a busy machine) once
per process, on the first frame's header step; a worker loads them in the
background as soon as it starts, so the first upload it gets does not wait.
"""

import logging
import threading

from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.time import Time
from distributed.diagnostics.plugin import WorkerPlugin

from ccdphot.frame.pipeline import describe_error
from ccdphot.header.times import exposure_times

log = logging.getLogger(__name__)


def _load_time_tables():
    try:
        exposure_times(Time("2020-01-01T00:00:00", scale="utc"),
                       SkyCoord(0.0 * u.deg, 0.0 * u.deg))
    except Exception as err:  # only a warm-up: the first frame then loads them itself
        log.debug("warm-up of the time tables failed: %s", describe_error(err))


class TimeTablesWarmUp(WorkerPlugin):
    """Loads the time tables in a background thread when a worker starts."""

    name = "ccdphot-server-time-tables"

    def setup(self, worker):
        threading.Thread(target=_load_time_tables, name="ccdphot-warm-up", daemon=True).start()
