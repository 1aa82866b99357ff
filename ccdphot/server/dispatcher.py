"""Send accepted uploads to the cluster and record how each job ends.

One thread of the server process. The database is the queue: an upload is
``queued`` from the moment it is acknowledged, ``processing`` once sent to the
cluster, ``done`` or ``failed`` when its task has ended and its point has been
read from the products. Whenever the dispatcher (re)connects to a cluster —
at start, or after losing the scheduler — every job left ``processing`` is
queued again, since no task of it can still report back: nothing accepted is
lost. A worker killed mid-frame is replaced by Dask, which runs the task again.
"""

import logging
import threading
from concurrent.futures import CancelledError

from sqlalchemy import select, update

from ccdphot.errors import CCDPhotError
from ccdphot.frame.pipeline import describe_error
from ccdphot.server.cluster import engine_cluster, submit_frame
from ccdphot.server.models import (
    DONE,
    FAILED,
    PROCESSING,
    QUEUED,
    Point,
    Target,
    Upload,
    utc_now,
)
from ccdphot.server.points import frame_point

log = logging.getLogger(__name__)

POLL_S = 5.0  # also look for queued jobs this often (a wake-up is the normal way)
RECONNECT_S = 30.0  # wait before trying a cluster that could not be reached again
NO_PRODUCTS = "failed: "  # a batch outcome's status when the frame wrote nothing


def frame_ok(status):
    """True when the engine ran every step it was asked for (skipped ones say why)."""
    return status.startswith(("ok", "incomplete"))


def job_options(upload, target):
    """The run options of one upload: the target's position, profile, forced filter."""
    options = {"target": [repr(target.ra_deg), repr(target.dec_deg)]}
    if upload.profile:
        options["profile"] = upload.profile
    if upload.forced_filter:
        options["header_values"] = {"FILTER": upload.forced_filter}
    return options


class Dispatcher:
    """Feeds the cluster from the database and writes the outcomes back."""

    def __init__(self, settings, sessions, store):
        self.settings = settings
        self.sessions = sessions
        self.store = store
        self.client = None
        self.error = None  # why no cluster is in use, for the health check
        self._futures = {}  # job id -> Future, touched only by the dispatcher thread
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="ccdphot-dispatcher",
                                        daemon=True)

    def start(self):
        self._thread.start()

    def wake(self):
        """Look at the queue now (a job was queued or has ended)."""
        self._wake.set()

    def stop(self, timeout_s=30.0):
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)

    @property
    def n_workers(self):
        client = self.client
        if client is None or client.status != "running":
            return 0
        return len(client.nthreads())

    def _main(self):
        while not self._stop.is_set():
            try:
                with engine_cluster(self.settings, self.store.results) as client:
                    self.client, self.error = client, None
                    self._serve(client)
            except CCDPhotError as err:  # no cluster: jobs wait in the queue
                self.error = str(err)
                log.error("no cluster (trying again in %g s); jobs stay queued: %s",
                          RECONNECT_S, err)
                self._stop.wait(RECONNECT_S)
            finally:
                self.client = None
                self._futures.clear()

    def _serve(self, client):
        """Feed one cluster until the server stops or the cluster is lost."""
        requeued = False
        while not self._stop.is_set() and client.status not in ("closed", "failed"):
            try:
                if not requeued:
                    self._requeue_interrupted()
                    requeued = True
                self._submit_queued(client)
                self._collect_finished()
            except Exception:  # e.g. the database restarting: try again shortly
                log.exception("job dispatcher: retrying in %g s", POLL_S)
                self._stop.wait(POLL_S)
            self._wake.wait(POLL_S)
            self._wake.clear()

    def _requeue_interrupted(self):
        with self.sessions() as session:
            result = session.execute(update(Upload).where(Upload.status == PROCESSING)
                                     .values(status=QUEUED))
            session.commit()
        if result.rowcount:
            log.info("%d job(s) cut short by a stop or a lost cluster queued again",
                     result.rowcount)

    def _submit_queued(self, client):
        with self.sessions() as session:
            queued = session.execute(
                select(Upload, Target).join(Target, Upload.target_id == Target.id)
                .where(Upload.status == QUEUED).order_by(Upload.received_utc)).all()
            for upload, target in queued:
                if upload.id in self._futures:
                    continue
                taken = session.execute(  # only if still queued (not deleted meanwhile)
                    update(Upload).where(Upload.id == upload.id, Upload.status == QUEUED)
                    .values(status=PROCESSING, started_utc=utc_now(),
                            attempts=Upload.attempts + 1))
                session.commit()
                if taken.rowcount != 1:
                    continue
                self.store.remove_job(upload.id)  # no product of an earlier attempt stays
                future = submit_frame(client, upload.id, self.store.frame_path(upload.sha256),
                                      job_options(upload, target))
                future.add_done_callback(lambda _: self._wake.set())
                self._futures[upload.id] = future

    def _collect_finished(self):
        """Record every ended task; a task stays in hand until its record is committed."""
        for job_id, future in list(self._futures.items()):
            if not future.done():
                continue
            try:
                outcome = future.result()
            except CancelledError:  # the scheduler was lost: the job goes back in the queue
                self._set_status(job_id, QUEUED)
            except Exception as err:  # the task itself failed: a worker died again and again
                self._finish(job_id, "", f"the job's task failed: {describe_error(err)}")
            else:
                self._record(job_id, outcome)
            del self._futures[job_id]
            future.release()

    def _record(self, job_id, outcome):
        """Record a batch FrameOutcome: the engine's status, or why the frame wrote nothing."""
        status = outcome.status
        storage = f" ({outcome.storage_error})" if outcome.storage_error else ""
        if status.startswith(NO_PRODUCTS):
            self._finish(job_id, "", status[len(NO_PRODUCTS):] + storage)
        else:
            self._finish(job_id, status, "" if frame_ok(status) else status + storage)

    def _set_status(self, job_id, status):
        with self.sessions() as session:
            session.execute(update(Upload).where(Upload.id == job_id).values(status=status))
            session.commit()

    def _finish(self, job_id, frame_status, error):
        """Record the end of a job and, when the frame was done, its point."""
        with self.sessions() as session:
            upload = session.get(Upload, job_id)
            if upload is None:  # deleted meanwhile
                self.store.remove_job(job_id)
                return
            done = frame_ok(frame_status)
            point = frame_point(self.store.frame_results(job_id), upload.profile) \
                if done else None
            upload.status = DONE if done else FAILED
            upload.frame_status = frame_status or None
            upload.error = error or None
            upload.finished_utc = utc_now()
            if upload.point is not None:
                session.delete(upload.point)
                session.flush()
            if point is not None:
                session.add(Point(upload_id=job_id, target_id=upload.target_id, **point))
            session.commit()
            log.info("job %s %s: %s", job_id, upload.status, frame_status or error)
