"""Persistent tool sessions: one long-lived tool process that runs job after job.

A tool whose start-up costs more than its work (PyRAF: 0.3-0.5 s to start IRAF
per job) can serve jobs from one process: ``[tools.<name>] persistent = true``
declares that its command, given ``--serve``, speaks this pipe protocol:

* ccdphot writes one JSON line per job on the session's stdin,
  ``{"args": [...], "cwd": "<work directory, absolute>"}`` (the arguments a one-shot run
  would get, file names relative to ``cwd``);
* the session runs the job and answers one JSON line on its stdout,
  ``{"returncode": 0, "stdout": "...", "stderr": "...", "ended": false}``
  (the job's own output; ``ended``: the session stops after this job);
* the session ends when its stdin closes, so it never outlives ccdphot.

:func:`ccdphot.wrappers.base.run_tool`, the one runner, sends a job to
``tool.session`` (a :class:`SessionPool`) instead of starting the tool, and
treats the answer as a process's exit code and output: the wrapper contract
(timeout, ToolError with the exit code and stderr tail, outputs checked) is
unchanged. A session process is started on the first job, in its own process
group (Ctrl-C on the terminal does not reach it). A job that times out or is
interrupted kills the session; the next job starts a new one. A session that
ends during a job (crash, killed) is started afresh and the job sent once
more; when that fails too the job fails with the reason.

Hand-written: the protocol is ccdphot's own (no library runs one Python
process per tool that answers jobs over a pipe with per-job output capture).
"""

import json
import logging
import os
import select
import subprocess
import tempfile
import threading
import time

from plumbum import local

from ccdphot.wrappers.base import kill_process_group

log = logging.getLogger(__name__)

SERVE_ARGUMENT = "--serve"
_READ_CHUNK = 1 << 16


class SessionEnded(Exception):
    """The session process ended (or could not be reached) before answering."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class ToolSession:
    """One session process of a tool; serves one job at a time (callers hold a lock)."""

    def __init__(self, tool):
        self.tool = tool
        self.process = None
        self._buffer = b""
        self._stderr = None  # the session's own stderr (start-up notes, crashes): a file
        self._stderr_seen = 0
        self._scratch = None

    @property
    def pid(self):
        return self.process.pid if self.process is not None else None

    def start(self):
        command = local[self.tool.executable][[*self.tool.argv[1:], SERVE_ARGUMENT]]
        self._stderr = tempfile.TemporaryFile(prefix="ccdphot-session-")
        self._stderr_seen = 0
        self._buffer = b""
        # its own empty directory: nothing there shadows a module or an IRAF file, and
        # what the session leaves there (PyRAF's HOME) goes even when it is killed
        self._scratch = tempfile.TemporaryDirectory(prefix="ccdphot-session-",
                                                    ignore_cleanup_errors=True)
        self.process = command.popen(cwd=self._scratch.name, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._stderr,
                                     new_session=True)
        log.info("%s: persistent session started (pid %d)", self.tool.label, self.pid)

    def run(self, args, cwd, deadline):
        """Send one job; (exit code, stdout, stderr) of its answer.

        Raises :class:`SessionEnded` when the process ends before answering,
        ``subprocess.TimeoutExpired`` when ``deadline`` (time.monotonic) passes.
        """
        if self.process is None:
            self.start()
        request = json.dumps({"args": [str(a) for a in args], "cwd": os.path.abspath(cwd)}) + "\n"
        try:
            self.process.stdin.write(request.encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as err:
            raise SessionEnded(self._end_reason()) from err
        reply = json.loads(self._read_line(deadline))
        notes = self._new_stderr()  # e.g. a start-up restart note: part of this job's output
        if reply.get("ended"):
            self.stop()
        return reply["returncode"], reply.get("stdout", ""), notes + reply.get("stderr", "")

    def _read_line(self, deadline):
        fd = self.process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise subprocess.TimeoutExpired(self.tool.argv, 0)
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, _READ_CHUNK)
                if not chunk:
                    raise SessionEnded(self._end_reason())
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode(errors="replace")

    def _new_stderr(self):
        if self._stderr is None:
            return ""
        self._stderr.seek(self._stderr_seen)
        data = self._stderr.read()
        self._stderr_seen += len(data)
        return data.decode(errors="replace")

    def _end_reason(self):
        """Why the process ended: its exit status and its last words on stderr."""
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        how = ("still running but not answering" if code is None else
               f"killed by signal {-code}" if code < 0 else f"exit code {code}")
        words = " ".join(self._new_stderr().split()[-40:])
        return f"session process {self.pid} ended during the job ({how})" + (
            f": {words}" if words else "")

    def stop(self):
        """End the session: close its stdin (it exits), kill its group if it lingers."""
        process, self.process = self.process, None
        if process is None:
            return
        try:
            process.stdin.close()
        except OSError:
            pass
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        kill_process_group(process)  # also any tool process the session started
        process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None
        log.info("%s: persistent session %d stopped", self.tool.label, process.pid)

    def kill(self):
        """Kill the session at once (timeout, Ctrl-C): its whole process group."""
        if self.process is not None:
            kill_process_group(self.process)
            self.stop()


class SessionPool:
    """The sessions of one tool in one ccdphot process: one per concurrent job.

    A job takes an idle session or starts one, so threads of one process
    (a Dask worker with several threads) never share a session, and a process
    running one frame at a time keeps exactly one. :meth:`close` stops them all.
    """

    def __init__(self, tool):
        self.tool = tool
        self._idle = []
        self._busy = set()
        self._lock = threading.Lock()
        self._closed = False

    def run(self, args, cwd, timeout_s):
        """(exit code, stdout, stderr) of ``args`` run in a session; see :class:`ToolSession`."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._lock:
            session = self._idle.pop() if self._idle else ToolSession(self.tool)
            self._busy.add(session)
        try:
            return self._run_retrying(session, args, cwd, deadline)
        except BaseException:  # timeout, Ctrl-C: the job's state in the session is unknown
            session.kill()
            raise
        finally:
            with self._lock:
                self._busy.discard(session)
                if self._closed:
                    session.stop()
                else:
                    self._idle.append(session)

    def _run_retrying(self, session, args, cwd, deadline):
        try:
            return session.run(args, cwd, deadline)
        except SessionEnded as ended:
            first = ended.reason
            log.warning("%s: %s; starting a new session and running the job once more",
                        self.tool.label, first)
            session.stop()
        try:
            return session.run(args, cwd, deadline)
        except SessionEnded as ended:
            session.stop()
            return 1, "", (f"{first}; in a new session: {ended.reason}; the job failed in "
                           "two persistent sessions")

    @property
    def pids(self):
        """Process ids of the running session processes (for tests and benchmarks)."""
        with self._lock:
            return [s.pid for s in (*self._idle, *self._busy) if s.pid is not None]

    def close(self):
        """Stop every session (idle ones now, busy ones when their job returns)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for session in idle:
            session.stop()
