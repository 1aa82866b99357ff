"""Many frames on Dask distributed, resumable: ``ccdphot batch`` and :func:`run_batch`.

One Dask task per frame through :func:`ccdphot.frame.pipeline.run_frame`, on a
LocalCluster of processes sized to the machine or on an existing scheduler; a
frame whose run.json says ok for the same run is skipped; ``batch_summary.ecsv``
and ``batch_summary.png`` are made from the products (docs/batch.rst).
"""

__all__ = ["run_batch", "BatchResult"]


def __getattr__(name):
    """``run_batch`` and ``BatchResult`` import Dask on first use, so that the
    ``ccdphot`` command does not pay for it when it runs no batch."""
    if name in __all__:
        from ccdphot.batch import run
        return getattr(run, name)
    raise AttributeError(f"module 'ccdphot.batch' has no attribute {name!r}")
