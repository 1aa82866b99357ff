"""Run many frames on Dask distributed: resume, one task per frame, summary.

The client side of a batch. It expands the inputs, names each frame's results
folder, skips the frames whose run.json says ok for the same run (unless
``force``), sends the others as one task each to the cluster, reports each frame
as it ends, and writes ``batch_summary.ecsv`` and ``batch_summary.png`` from the
products. A failed frame is recorded and the batch goes on; a full or read-only
output file system stops it (the next frames could not be written either).
Interrupted (Ctrl-C, a lost scheduler), the summary of what was done is still
written; running the same batch again resumes it.
"""

import logging
import uuid
from concurrent.futures import CancelledError
from dataclasses import dataclass
from pathlib import Path

from distributed import as_completed
from distributed.comm import CommClosedError
from distributed.scheduler import KilledWorker

from ccdphot.batch.cluster import CONNECT_TIMEOUT_S, batch_client
from ccdphot.batch.inputs import collect_frames, name_jobs
from ccdphot.batch.resume import RunFingerprint, done_record
from ccdphot.batch.summary import PLOT_NAME, plot_summary, summary_table, write_summary
from ccdphot.batch.worker import BatchSpec, BatchWorkerPlugin, FrameOutcome, process_frame
from ccdphot.config import config_sha256, load_config, thaw
from ccdphot.errors import ClusterError, OutputError
from ccdphot.frame.pipeline import describe_error, plan_steps
from ccdphot.products import check_writable

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """What :func:`run_batch` returns: the summary table and where it was written."""

    summary: object  # astropy Table, one row per frame
    summary_path: Path
    plot_path: Path
    outcomes: dict  # frame name -> FrameOutcome

    @property
    def n_failed(self):
        return sum(not outcome.ok for outcome in self.outcomes.values())

    @property
    def ok(self):
        return self.n_failed == 0 and len(self.outcomes) == len(self.summary)


def single_threaded(config):
    """``config`` with SExtractor at one thread (SCAMP's shipped file already says 1)."""
    overrides = config["detect"]["sextractor"]
    threads = {key: value for key, value in overrides.items() if key.upper() == "NTHREADS"}
    if all(value == 1 for value in threads.values()):
        return config
    log.warning("[detect.sextractor] NTHREADS=%s replaced by 1: a batch runs one frame "
                "per CPU, each tool single-threaded", ", ".join(map(str, threads.values())))
    data = thaw(config)
    data["detect"]["sextractor"] = {**{k: v for k, v in overrides.items() if k not in threads},
                                    "NTHREADS": 1}
    return load_config(data=data)


def _results_root(out):
    """The absolute results root, created and checked writable (a clear OutputError if not)."""
    out_root = Path(out).resolve()
    try:
        check_writable(out_root)
    except OSError as err:
        raise OutputError(f"cannot write results to {out_root} ({err.strerror or err}); "
                          "choose a writable directory with --out") from err
    return out_root


def _failure_text(err, job):
    if isinstance(err, KilledWorker):
        return ("failed: the worker processing it died repeatedly (KilledWorker: out of "
                "memory, or killed); see the workers' logs")
    return f"failed: {describe_error(err)} (in the batch task of {job.name})"


def _run_on_cluster(client, spec, jobs, on_frame, outcomes):
    """Submit one task per job; record each outcome as it ends."""
    plugin = BatchWorkerPlugin(spec)
    plugin_name = f"ccdphot-batch-{config_sha256(spec.config)[:12]}-{uuid.uuid4().hex[:6]}"
    client.register_plugin(plugin, name=plugin_name)
    by_key = {}
    for job in jobs:
        future = client.submit(process_frame, plugin_name, job, pure=False,
                               key=f"ccdphot-frame-{job.name}-{uuid.uuid4().hex[:8]}")
        by_key[future.key] = (future, job)
    pending = [future for future, _ in by_key.values()]
    try:
        for future in as_completed(pending, loop=client.loop):
            job = by_key[future.key][1]
            try:
                outcome = future.result()
            except (CancelledError, CommClosedError):
                raise  # the scheduler is gone: see run_batch
            except Exception as err:  # the task itself failed (a killed worker, a bug)
                outcome = FrameOutcome(name=job.name, input=job.input,
                                       status=_failure_text(err, job))
            future.release()
            outcomes[job.name] = outcome
            on_frame(outcome)
            if outcome.storage_error:
                raise OutputError(f"cannot write results to {spec.out_root} "
                                  f"({outcome.storage_error}); the frames done are kept: free "
                                  "space (or choose a writable --out) and run the same command"
                                  " again to resume")
    finally:
        try:
            client.cancel([future for future, _ in by_key.values() if not future.done()])
            client.unregister_worker_plugin(plugin_name)  # its teardown closes FrameWorkers
        except Exception as err:  # the cluster may be gone already; nothing left to stop
            log.debug("batch clean-up on the cluster: %s", describe_error(err))


def _split_done(jobs, out_root, fingerprint, force):
    """(outcomes of the frames already done, jobs to run); nothing is done with ``force``."""
    outcomes, to_run = {}, []
    for job in jobs:
        record = None if force else done_record(job, out_root, fingerprint)
        if record is None:
            to_run.append(job)
        else:
            outcomes[job.name] = FrameOutcome(name=job.name, input=job.input,
                                              status=record["status"],
                                              seconds=record.get("seconds"), resumed=True)
    return outcomes, to_run


def _write_summary(table, out_root, raise_errors):
    """Write the summary table and plot; when the batch is already failing, only log a failure."""
    try:
        return write_summary(table, out_root), plot_summary(table, out_root / PLOT_NAME)
    except OSError as err:
        if raise_errors:
            raise OutputError(f"cannot write the batch summary into {out_root} "
                              f"({err.strerror or err}); the frames' results are kept") from err
        log.error("cannot write the batch summary into %s (%s)", out_root, err.strerror or err)
        return None, None


def run_batch(inputs, config=None, steps=None, out="RESULTS", workers=None, scheduler=None,
              force=False, options=None, on_frame=None, on_start=None,
              connect_timeout_s=CONNECT_TIMEOUT_S):
    """Process frames on Dask distributed; return a :class:`BatchResult`.

    ``inputs``: FITS files and directories of them. ``config``: a config from
    :func:`ccdphot.load_config` (default: the built-in one); ``steps``: step
    names (default: the configured sequence); ``out``: the results root.
    ``workers``: local worker processes (default: one per CPU); ``scheduler``:
    the address of an existing Dask scheduler instead. ``force``: redo frames
    already done. ``options``: run options as for
    :func:`~ccdphot.frame.pipeline.run_frame`. ``on_frame(outcome)`` is called
    with the :class:`~ccdphot.batch.worker.FrameOutcome` of each frame as it
    ends (the frames already done first), after ``on_start(n_frames, n_done)``. A failed frame does not
    raise; a missing input, an unwritable results root, an unreachable
    cluster or a full disk raise a :class:`~ccdphot.errors.CCDPhotError`.
    """
    config = single_threaded(config if config is not None else load_config())
    steps = tuple(steps) if steps is not None else None
    plan = plan_steps(steps, config["run"]["steps"])
    frames, _ = collect_frames(inputs)
    out_root = _results_root(out)
    jobs = name_jobs(frames, out_root)
    on_frame = on_frame or (lambda outcome: None)
    outcomes, to_run = _split_done(jobs, out_root, RunFingerprint.of(config, plan, options),
                                   force)
    log.info("batch: %d frames, %d already done, %d to run -> %s", len(jobs),
             len(outcomes), len(to_run), out_root)
    if on_start is not None:
        on_start(len(jobs), len(outcomes))
    for outcome in list(outcomes.values()):
        on_frame(outcome)
    spec = BatchSpec(config=thaw(config), steps=steps, options=dict(options or {}),
                     out_root=str(out_root))
    finished = False
    try:
        if to_run:
            with batch_client(scheduler, workers, timeout_s=connect_timeout_s) as client:
                try:
                    _run_on_cluster(client, spec, to_run, on_frame, outcomes)
                except (CancelledError, CommClosedError) as err:
                    raise ClusterError(
                        f"lost the Dask scheduler during the batch ({describe_error(err)}); "
                        "the frames done are kept: run the same command again to resume"
                    ) from err
        finished = True
    finally:
        table = summary_table(jobs, outcomes, out_root)
        summary_path = plot_path = None
        if outcomes:  # nothing to summarise when no frame was run nor done before
            summary_path, plot_path = _write_summary(table, out_root, raise_errors=finished)
    return BatchResult(summary=table, summary_path=summary_path, plot_path=plot_path,
                       outcomes=outcomes)
