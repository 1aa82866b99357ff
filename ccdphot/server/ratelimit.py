"""Uploads per observer token and minute: a sliding window in the server process.

Kept in memory: a restart forgets the last minute, which a rate limit may.
Several server processes behind one address would each count their own.
"""

import math
import threading
import time
from collections import defaultdict, deque

from ccdphot.server.errors import RateLimited

WINDOW_S = 60.0


class RateLimiter:
    """At most ``per_minute`` events per key in any 60 s."""

    def __init__(self, per_minute, clock=time.monotonic):
        self.per_minute = per_minute
        self.clock = clock
        self._events = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, key):
        """Count one event for ``key``; raise :class:`RateLimited` when over the limit."""
        now = self.clock()
        with self._lock:
            events = self._events[key]
            while events and events[0] <= now - WINDOW_S:
                events.popleft()
            if len(events) >= self.per_minute:
                wait = math.ceil(events[0] + WINDOW_S - now)
                raise RateLimited(f"more than {self.per_minute} uploads in a minute with this "
                                  f"token; try again in {wait} s", retry_after_s=wait)
            events.append(now)
