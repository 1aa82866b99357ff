"""The worker side of a batch: one Dask task per frame, through the engine's public API.

A :class:`BatchWorkerPlugin` is registered with the cluster for each batch; Dask
installs it on every worker process, also on workers that join or are restarted
later, and its ``setup`` makes that process's :class:`FrameWorker`. A task
(:func:`process_frame`) looks the FrameWorker up on its worker and runs one
frame with :func:`ccdphot.frame.pipeline.run_frame`.

The FrameWorker is the one place for what a worker process keeps across frames:
the frozen configuration, the resolved tools (version probes run once per
process) and their persistent sessions (one PyRAF session per worker process
and thread, started by the first IRAF job, see :mod:`ccdphot.wrappers.session`).
Per-frame state never lives there: ``run_frame`` makes a fresh context, work
directory and IRAF ``uparm`` for every frame, and the session resets IRAF's
task parameters for every job. :meth:`FrameWorker.close`, which the plugin's
``teardown`` calls when the worker closes, stops the sessions.
"""

import errno
import logging
import signal
import threading
import time
from dataclasses import dataclass
from typing import Optional

from distributed import get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from ccdphot.batch.resume import status_is_ok
from ccdphot.config import load_config
from ccdphot.errors import CCDPhotError
from ccdphot.frame.pipeline import describe_error, run_frame
from ccdphot.tools import ToolRegistry

log = logging.getLogger(__name__)

# A frame failing for one of these cannot be helped by the next frame: the batch stops.
STORAGE_ERRNOS = {errno.ENOSPC: "no space left", errno.EROFS: "read-only file system",
                  errno.EDQUOT: "disk quota exceeded"}
# astropy.io.fits re-raises a full disk as a plain OSError (no errno) with this text.
ASTROPY_NO_SPACE = "Not enough space on disk"


@dataclass(frozen=True)
class BatchSpec:
    """What every frame of a batch shares (sent once to each worker with the plugin)."""

    config: dict  # the thawed effective configuration
    steps: Optional[tuple]  # steps asked for by name, or None for the configured sequence
    options: dict  # run options (refcat, header values, profile)
    out_root: str  # absolute results root


@dataclass(frozen=True)
class FrameOutcome:
    """What the batch learns of one frame: where it ended and who ran it."""

    name: str
    input: str
    status: str
    seconds: Optional[float] = None
    worker: str = ""
    resumed: bool = False
    storage_error: str = ""  # set when the output file system is full or read-only

    @property
    def ok(self):
        return status_is_ok(self.status)


def storage_problem(err):
    """The reason when ``err`` (or an exception it came from) is a full or read-only disk."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in STORAGE_ERRNOS:
            return STORAGE_ERRNOS[err.errno]
        if isinstance(err, OSError) and ASTROPY_NO_SPACE in str(err):
            return STORAGE_ERRNOS[errno.ENOSPC]
        err = err.__cause__ or err.__context__
    return ""


class FrameWorker:
    """Runs frames in one worker process; holds what the process keeps across frames."""

    def __init__(self, spec):
        self.spec = spec
        self.config = load_config(data=spec.config)
        self.tools = ToolRegistry(self.config, sessions=True)

    def run(self, job, worker_name="", options=None):
        """Process ``job`` (a :class:`~ccdphot.batch.inputs.FrameJob`); never raises
        for a frame's own failure, which is recorded in its run.json and the outcome.
        ``options`` replaces the batch's run options for this frame (the calibration
        server's per-upload target, profile and filter)."""
        start = time.perf_counter()
        storage = ""
        try:
            result = run_frame(job.input, self.config, steps=self.spec.steps,
                               out=self.spec.out_root,
                               options=self.spec.options if options is None else options,
                               tools=self.tools, name=job.name)
            status = result.record["status"]
        except CCDPhotError as err:
            result = getattr(err, "result", None)
            status = result.record["status"] if result is not None else f"failed: {err}"
            storage = storage_problem(err)
        except Exception as err:  # outside any step (e.g. run.json unwritable): recorded
            log.error("%s: %s", job.name, describe_error(err), exc_info=True)
            status = f"failed: {describe_error(err)}"
            storage = storage_problem(err)
        return FrameOutcome(name=job.name, input=job.input, status=status,
                            seconds=round(time.perf_counter() - start, 3),
                            worker=worker_name, storage_error=storage)

    def close(self):
        """Stop what the process kept for the batch: the tools' persistent sessions."""
        if self.tools is not None:
            self.tools.close()
        self.tools = None


class BatchWorkerPlugin(WorkerPlugin):
    """Gives each worker process of the cluster its FrameWorker for one batch."""

    def __init__(self, spec):
        self.spec = spec
        self.frame_worker = None

    def setup(self, worker):
        # Each frame's messages go to its own ccdphot.log; without a handler here,
        # Python would also print the warnings on the worker's console.
        package_logger = logging.getLogger("ccdphot")
        if not package_logger.handlers:
            package_logger.addHandler(logging.NullHandler())
        self.frame_worker = FrameWorker(self.spec)

    def teardown(self, worker):
        if self.frame_worker is not None:
            self.frame_worker.close()


def process_frame(plugin_name, job, options=None):
    """The Dask task: run one frame on this worker's FrameWorker of the batch."""
    worker = get_worker()
    plugin = worker.plugins[plugin_name]
    return plugin.frame_worker.run(job, worker_name=worker.address, options=options)


class IgnoreInterrupts(WorkerPlugin):
    """Worker plugin of a local cluster: Ctrl-C stops the batch, not each worker and tool.

    The worker processes share the terminal with the ``ccdphot`` command, so
    Ctrl-C would reach them and the tools they run (a tool killed by it looks
    like a failed frame). Ignored signals stay ignored in the tools they start;
    the command then closes the cluster, and the frames cut short are redone
    when the batch is run again.
    """

    name = "ccdphot-ignore-interrupts"

    def setup(self, worker):
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
