"""Is a catalogue server reachable at all? One short TCP connect, remembered per process.

A machine without network answers a catalogue query with a connection error
at once, but the retry loop then waits its backoff (seconds per process) before
giving up. One plain socket connect to the server's HTTPS port with a short
timeout tells the two cases apart: when it fails, the server is not asked and
no retry is made. The answer is kept for the process (a batch of frames asks
once); a failed probe is asked again after ``hold_s`` seconds. The probe uses
the socket module directly because no HTTP library offers a connect-only check.
"""

import logging
import socket
import time

log = logging.getLogger(__name__)

HTTPS_PORT = 443
# host -> (reachable, time.monotonic() of the probe); one entry per server, per process.
_PROBES = {}


def reachable(host, timeout_s=1.5, hold_s=300.0, port=HTTPS_PORT):
    """True when a TCP connection to ``host:port`` opens within ``timeout_s``.

    A positive answer is kept for the process; a negative one for ``hold_s``
    seconds, so a machine that comes online is noticed by a long batch.
    """
    known = _PROBES.get(host)
    if known is not None:
        ok, when = known
        if ok or time.monotonic() - when < hold_s:
            return ok
    start = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            ok = True
    except OSError as err:  # DNS failure, refused, unreachable, timeout
        ok = False
        log.info("no network connection to %s:%d (%s, %.2f s): catalogue servers are not "
                 "asked", host, port, err, time.monotonic() - start)
    _PROBES[host] = (ok, time.monotonic())
    return ok
