"""The server's jobs on the batch machinery (:mod:`ccdphot.batch`).

The cluster is the batch's (:func:`ccdphot.batch.cluster.batch_client`: a local
cluster of single-threaded worker processes, or a scheduler by address whose
workers see the data folder at the same path); its workers run frames with the
batch's :class:`~ccdphot.batch.worker.FrameWorker`, one per process, holding the
server's engine configuration and tools. Every job reaches the cluster through
:func:`submit_frame`: one batch task per upload, with that upload's own run
options, its results in ``DATA/results/<job id>/``.
"""

import logging
from contextlib import contextmanager

from ccdphot.batch.cluster import batch_client
from ccdphot.batch.inputs import FrameJob
from ccdphot.batch.run import single_threaded
from ccdphot.batch.worker import BatchSpec, BatchWorkerPlugin, process_frame
from ccdphot.config import load_config, thaw
from ccdphot.server.worker import TimeTablesWarmUp

log = logging.getLogger(__name__)

PLUGIN = "ccdphot-server-engine"


@contextmanager
def engine_cluster(settings, results_root):
    """Yield a Dask Client whose workers run the server's frames into ``results_root``."""
    with batch_client(settings.scheduler, settings.workers) as client:
        engine = single_threaded(load_config(data=settings.engine_config))
        spec = BatchSpec(config=thaw(engine), steps=settings.steps, options={},
                         out_root=str(results_root))
        client.register_plugin(BatchWorkerPlugin(spec), name=PLUGIN)
        client.register_plugin(TimeTablesWarmUp())
        yield client


def submit_frame(client, job_id, frame_path, options):
    """Send one upload to the cluster; its Future gives a batch FrameOutcome."""
    return client.submit(process_frame, PLUGIN, FrameJob(input=str(frame_path), name=job_id),
                         options, key=f"ccdphot-job-{job_id}", pure=False)
