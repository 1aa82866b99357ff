"""The Dask cluster of a batch: a LocalCluster of processes, or a scheduler by address.

Local: one worker process per usable CPU (or ``workers``), one thread each, so
that every frame runs alone in its process and each tool runs single-threaded
(Dask's nanny also sets OMP/MKL/OpenBLAS to one thread). Remote: an existing
scheduler (``tcp://host:8786``) whose workers see the same paths (shared
storage); start them with ``dask worker ADDRESS --nthreads 1``.
"""

import logging
import os
import socket
from contextlib import contextmanager

from ccdphot.errors import ClusterError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
WORKER_WAIT_S = 60.0


def usable_cpus():
    """CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _check_reachable(address, timeout_s):
    """Fail fast, with the reason, when nothing listens at a tcp:// address."""
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    try:
        scheme, location = parse_address(address)
        if scheme != "tcp":
            return
        host, port = parse_host_port(location)
    except ValueError as err:
        raise ClusterError(f"--scheduler {address}: not a scheduler address ({err}); give "
                           "one like tcp://host:8786") from err
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as err:
        reason = err.strerror or str(err) or type(err).__name__
        raise ClusterError(f"cannot reach the Dask scheduler at {address} ({reason}); start "
                           f"it with `dask scheduler` and workers with `dask worker {address}`,"
                           " or leave out --scheduler to use this machine") from err


def _connect(address, timeout_s, worker_wait_s):
    from distributed import Client

    _check_reachable(address, timeout_s)
    try:
        client = Client(address, timeout=f"{timeout_s}s", set_as_default=False)
    except Exception as err:  # distributed raises OSError, ValueError, TimeoutError, ...
        raise ClusterError(f"cannot connect to the Dask scheduler at {address} "
                           f"({type(err).__name__}: {err}); is it a Dask scheduler?") from err
    try:
        client.wait_for_workers(1, timeout=worker_wait_s)
    except TimeoutError as err:
        client.close()
        raise ClusterError(f"the Dask scheduler at {address} has no workers after "
                           f"{worker_wait_s:g} s; start some with `dask worker {address} "
                           "--nthreads 1`") from err
    return client


@contextmanager
def batch_client(scheduler=None, workers=None, timeout_s=CONNECT_TIMEOUT_S,
                 worker_wait_s=WORKER_WAIT_S):
    """Yield a Dask Client: to ``scheduler`` if given, else to a new LocalCluster.

    Dask is imported here, not with the module, so the ``ccdphot`` command
    starts without it.
    """
    from distributed import Client, LocalCluster

    from ccdphot.batch.worker import IgnoreInterrupts

    if scheduler:
        client = _connect(scheduler, timeout_s, worker_wait_s)
        log.info("batch on the Dask scheduler %s (%d workers)", scheduler,
                 len(client.scheduler_info()["workers"]))
        try:
            yield client
        finally:
            client.close()
        return
    n_workers = workers or usable_cpus()
    try:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
    except Exception as err:  # e.g. no processes can be started
        raise ClusterError(f"cannot start a local Dask cluster of {n_workers} worker "
                           f"processes ({type(err).__name__}: {err})") from err
    log.info("batch on a local Dask cluster of %d worker processes", n_workers)
    with cluster, Client(cluster, set_as_default=False) as client:
        client.register_plugin(IgnoreInterrupts())
        yield client
