"""A ``ccdphot serve`` child process on the loopback address, for tests and benchmarks.

Starts the real command (``python -m ccdphot serve``, from the data folder's parent
so that the installed package is run, not a source tree) in its own process group
on a free port of 127.0.0.1, waits until its health check answers with workers
ready, and stops it: gracefully (SIGTERM), or as a crash (SIGKILL to the whole
group: server and its local Dask workers), to check that nothing accepted is lost.
"""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def free_port():
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


class ServerProcess:
    """One server: its data folder, database URL and ``ccdphot serve`` options."""

    def __init__(self, data_dir, database_url=None, serve_args=(), env=None):
        self.data_dir = Path(data_dir)
        self.database_url = database_url
        self.serve_args = list(serve_args)
        self.env = env
        self.process = None
        self.port = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-server.log"

    @property
    def url(self):
        return f"http://{LOOPBACK}:{self.port}"

    def _command(self, *args):
        place = ["--data", str(self.data_dir)]
        if self.database_url:
            place += ["--db", self.database_url]
        return [sys.executable, "-m", "ccdphot", *args, *place]

    def add_observer(self, name, admin=False):
        """Add an observer with ``ccdphot observer add``; return its token."""
        done = subprocess.run(self._command("observer", "add", name,
                                            *(["--admin"] if admin else [])),
                              capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              cwd=self.data_dir.parent, env=self.env, timeout=120,
                              check=False)
        if done.returncode != 0:
            raise RuntimeError(f"ccdphot observer add {name} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def start(self, timeout_s=180.0, min_workers=1):
        """Start the server and wait until it answers with ``min_workers`` workers."""
        self.port = free_port()
        with open(self.log_path, "a") as log_file:
            self.process = subprocess.Popen(
                self._command("serve", "--host", LOOPBACK, "--port", str(self.port),
                              *self.serve_args),
                stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.data_dir.parent, env=self.env, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ccdphot serve exited with {self.process.returncode}; "
                                   f"log: {self.log_tail()}")
            health = self.health()
            if health is not None and health["workers"] >= min_workers:
                return health
            time.sleep(0.5)
        self.kill()
        raise RuntimeError(f"ccdphot serve not ready after {timeout_s:g} s; log: "
                           f"{self.log_tail()}")

    def health(self):
        """The health record, or None while the server does not answer."""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/health", timeout=5) as answer:
                return json.loads(answer.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def log_tail(self, n_chars=3000):
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError:
            return "(no log)"

    def stop(self, timeout_s=60.0):
        """Graceful stop (SIGTERM, as a service manager sends); kill if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("ccdphot serve did not stop in %g s: killed", timeout_s)
        self.kill()

    def kill(self):
        """A crash: SIGKILL to the server's process group (server and local workers)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(30)
