"""Subprocess worker that runs a job of IRAF task calls through PyRAF.

``python -m ccdphot.wrappers.pyraf_worker JOB.json`` runs the calls of a job
file (written by :mod:`ccdphot.wrappers.pyraf`) in the current directory, with
a private HOME, IRAF ``uparm`` and PyRAF cache below it, so that parallel jobs
never share IRAF state. ``--version`` prints the IRAF and PyRAF versions.
``--serve`` is the persistent session (:mod:`ccdphot.wrappers.session`): one
PyRAF, started at the first job, runs the jobs sent line by line on stdin,
each with its own ``uparm``, IRAF working directory and output, every task
touched before unlearned again (:class:`IrafRunner`, the one path for both modes).

Job file (JSON)::

    {"private_dir": ".iraf/phot", "cache_dir": ".iraf/cache", "iraf_root": "",
     "calls": [{"package": "noao.digiphot.daophot", "task": "datapars",
                "params": {"fwhmpsf": 3.1}, "pset": true},
               {"package": "noao.digiphot.daophot", "task": "phot",
                "params": {"image": "frame.fits", ...}, "stdout": "phot.log"}]}

Each call unlearns the task first; a ``pset`` call then sets ``params`` (its
values serve the next task calls), any other call runs the task with
``params`` as its arguments (so query parameters never prompt).
Every IRAF failure ends the worker (and a session) with exit code 2 and a
one-line message on stderr naming the task.

Start-up. PyRAF starts IRAF by running its CL start-up scripts, which run a
few shell commands whose exit status they ignore. PyRAF's process launcher
(``pyraf.subproc.Subprocess.fork``) however looks at the child once right
after forking and raises ``SubprocessError`` if the child has *already*
exited with a non-zero status -- which happens only when the worker is
descheduled for the millisecond the command needs, i.e. on a loaded machine.
Two start-up commands always exit non-zero here: ``stty size`` in the system
``login.cl`` (stdin is not a terminal) and ``ls -1ad [a-y]*`` in
``hlib$extpkg.cl``, run in ``iraf$extern``, which is empty when no external
IRAF package is installed (Debian). The first is avoided by giving every job
its own ``login.cl`` (no terminal probing, nothing read from the work
directory); the second comes from IRAF's own ``clpackage.cl`` and cannot be
avoided without altering the IRAF installation, so when PyRAF's start-up
fails with exactly that error the worker starts afresh (``exec``, at most
:data:`START_ATTEMPTS` times) and says so on stderr (:data:`RESTART_NOTE`); a
session hands the job it was starting for to the new process.
"""

import contextlib
import itertools
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

EXIT_IRAF_FAILED = 2
EXIT_NO_PYRAF = 3
START_ATTEMPTS = 3
RESTART_NOTE = "PyRAF start-up restarted"
_ATTEMPT_VARIABLE = "CCDPHOT_PYRAF_START_ATTEMPT"
_PENDING_VARIABLE = "CCDPHOT_PYRAF_PENDING_REQUEST"
_MODULE = "ccdphot.wrappers.pyraf_worker"
_IRAF_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+-]+$")
# What pyraf.subproc raises when a start-up command exited before its first look.
_EARLY_EXIT = re.compile(r"Child process '(?P<command>.+)' exited with return code (?P<code>\d+)")
# In place of the system login.cl: the job's uparm, the terminal size the system
# login.cl falls back to without a terminal, and nothing else.
_LOGIN_CL = """# IRAF login of one ccdphot PyRAF job (written by {module})
set\tuparm\t= "{uparm}/"
set\timdir\t= "HDR$"
set\tuserid\t= "{user}"
stty\tvt220
stty\tnlines=24 ncols=80
keep
"""


class StartupRace(Exception):
    """PyRAF's start-up took a start-up command's ignored exit status for a failure."""

    def __init__(self, command, code):
        super().__init__(f"IRAF start-up command `{command}` exited with code {code} before "
                         "PyRAF's first look at it, which PyRAF takes for a failure")


def _private_environment(base, iraf_root="", cache_dir=None):
    """Point HOME, USER, the PyRAF cache and (optionally) IRAF at private places.

    ``base/iraf/login.cl`` becomes IRAF's login file (PyRAF takes
    ``$HOME/iraf`` as IRAF home). ``cache_dir`` (PyRAF's compiled-CL cache, an
    SQLite file safe to share) may be shared by the jobs of one work
    directory; it saves ~0.3 s a job.
    """
    base = Path(base).absolute()
    cache = Path(cache_dir).absolute() if cache_dir else base / "cache"
    for path in (base / "iraf", base / "uparm", cache):
        path.mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = str(base)
    os.environ.setdefault("USER", "ccdphot")
    os.environ["PYRAF_CLCACHE_PATH"] = str(cache)
    os.environ["PYRAF_NO_DISPLAY"] = "1"
    os.environ.pop("DISPLAY", None)
    if iraf_root:
        os.environ["iraf"] = str(iraf_root).rstrip("/") + "/"
    (base / "iraf" / "login.cl").write_text(_LOGIN_CL.format(
        module=_MODULE, uparm=base / "uparm", user=os.environ["USER"]))
    return base


def _import_iraf():
    """Import PyRAF's iraf object; StartupRace for the known start-up race, else
    exit 3 with a one-line reason when PyRAF or IRAF is not usable.

    PyRAF starts in an empty directory: a ``login.cl`` or ``uparm/`` in the
    work directory would otherwise take the place of the job's own.
    """
    work = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="ccdphot-pyraf-start-") as empty:
        os.chdir(empty)
        try:
            from pyraf import iraf
        except BaseException as err:  # PyRAF exits or raises many types without IRAF
            early_exit = _EARLY_EXIT.fullmatch(str(err))
            if type(err).__name__ == "SubprocessError" and early_exit:
                raise StartupRace(early_exit["command"], early_exit["code"]) from err
            print(f"PyRAF/IRAF not usable: {type(err).__name__}: {err}", file=sys.stderr)
            sys.exit(EXIT_NO_PYRAF)
        finally:
            os.chdir(work)
    return iraf


@contextlib.contextmanager
def _iraf_safe_directory(job):
    """Run in the current directory, or in a stand-in when IRAF cannot use its name.

    IRAF cannot work in a directory whose path holds spaces or shell
    characters (and it is given the resolved path, so a link does not help).
    Then the job runs in a plain temporary directory holding a symbolic link
    to every entry of the work directory; afterwards the files the job wrote
    there are moved into the work directory and the stand-in is removed.
    """
    work = Path.cwd()
    if _IRAF_SAFE_PATH.match(str(work)):
        yield work
        return
    for private in (job.get("private_dir"), job.get("cache_dir")):
        if private:
            (work / Path(private).parts[0]).mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ccdphot-iraf-") as tmp:
        stand_in = Path(tmp)
        for entry in work.iterdir():
            (stand_in / entry.name).symlink_to(entry)
        os.chdir(stand_in)
        try:
            yield stand_in
        finally:
            os.chdir(work)
            for entry in stand_in.iterdir():
                if not entry.is_symlink():
                    target = work / entry.name
                    if target.is_dir() and not target.is_symlink():
                        shutil.rmtree(target)
                    shutil.move(str(entry), str(target))


class IrafTaskFailed(Exception):
    """An IRAF task of the job failed; the message names it."""


class IrafRunner:
    """The PyRAF of this process: runs the calls of jobs, one after another.

    The one path for every job, one-shot or in a session. Per job: the job's
    own ``uparm`` (``set uparm``), IRAF's working directory (``chdir``), and
    every task the process touched before unlearned again, so that a job
    depends on nothing an earlier job set; packages stay loaded.
    """

    def __init__(self, iraf):
        self.iraf = iraf
        self.loaded = set()
        self.touched = set()

    def run(self, job, cwd):
        for task_name in sorted(self.touched):
            self.iraf.unlearn(task_name)
        uparm = cwd / job.get("private_dir", "iraf_home") / "uparm"
        uparm.mkdir(parents=True, exist_ok=True)
        self.iraf.set(uparm=f"{uparm}/")
        self.iraf.chdir(str(cwd))
        for call in job["calls"]:
            self._call(call)

    def _load_package(self, dotted):
        parts = dotted.split(".")
        for i, name in enumerate(parts):
            key = ".".join(parts[:i + 1])
            if key not in self.loaded:
                getattr(self.iraf, name)(_doprint=0)
                self.loaded.add(key)

    def _call(self, call):
        task_name = call["task"]
        start = time.perf_counter()
        try:
            if call.get("package"):
                self._load_package(call["package"])
            task = getattr(self.iraf, task_name)
            self.touched.add(task_name)
            self.iraf.unlearn(task_name)
            params = call.get("params", {})
            if call.get("pset"):
                for name, value in params.items():
                    task.setParam(name, value)
                return
            for name in call.get("remove", ()):
                Path(name).unlink(missing_ok=True)
            redirect = {"Stdout": call["stdout"]} if call.get("stdout") else {}
            task(**params, **redirect)
        except BaseException as err:  # IrafError, KeyError, SystemExit from IRAF tasks
            message = " ".join(str(err).split()) or type(err).__name__
            raise IrafTaskFailed(f"IRAF task {task_name} failed: {message}") from err
        finally:
            sys.stdout.flush()
        print(f"{task_name}: {time.perf_counter() - start:.2f} s", flush=True)


def run_job(job_path, runner=None, home=None):
    """Run a job file in the current directory; returns the IrafRunner.

    One-shot (``runner`` None): PyRAF starts here, with HOME, uparm and cache
    private to the job. In a session the ``runner`` is the session's PyRAF,
    started at its first job with HOME and cache in the session's ``home``.
    """
    job = json.loads(Path(job_path).read_text())
    with _iraf_safe_directory(job) as cwd:
        if runner is None:
            if home is None:
                home = cwd / job.get("private_dir", "iraf_home")
                cache = cwd / job["cache_dir"] if job.get("cache_dir") else None
            else:
                cache = None
            _private_environment(home, job.get("iraf_root", ""), cache)
            runner = IrafRunner(_import_iraf())
        runner.run(job, cwd)
    return runner


@contextlib.contextmanager
def _captured_output(text):
    """File descriptors 1 and 2 into files for one job; their text into ``text`` after.

    Descriptors, not just sys.stdout: IRAF tasks and PyRAF write through both.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    files = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    os.dup2(files[0].fileno(), 1)
    os.dup2(files[1].fileno(), 2)
    try:
        yield text
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)
        for name, file in zip(("stdout", "stderr"), files):
            file.seek(0)
            text[name] = file.read().decode(errors="replace")
            file.close()


def serve(home, pending=None):
    """Session mode (:mod:`ccdphot.wrappers.session`): run job after job read on stdin.

    Answers go on a private copy of stdout; stdout itself is /dev/null between
    jobs, so nothing stray mixes into them. A failed job ends the session (IRAF's
    state after an error is not trusted): the next job starts a new one.
    ``pending`` is a request line read before a start-up restart.
    """
    answers = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    runner = None
    for line in itertools.chain([pending] if pending else [], sys.stdin):
        text = {}
        try:
            with _captured_output(text):
                runner, returncode = _serve_job(json.loads(line), runner, home)
        except StartupRace as race:  # the restarted process answers on our stdout
            os.dup2(answers.fileno(), 1)
            race.pending = line
            raise
        answers.write(json.dumps({**text, "returncode": returncode,
                                  "ended": returncode != 0}) + "\n")
        answers.flush()
        if returncode != 0:
            return returncode
    return 0


def _serve_job(request, runner, home):
    """(runner, exit code) of one request; a failure is told on stderr as in one-shot mode."""
    try:
        os.chdir(request["cwd"])
        return run_job(request["args"][0], runner, home), 0
    except IrafTaskFailed as err:
        print(err, file=sys.stderr)
        return runner, EXIT_IRAF_FAILED
    except StartupRace:
        raise
    except SystemExit as err:  # PyRAF/IRAF not usable (told on stderr)
        return runner, err.code if isinstance(err.code, int) and err.code else EXIT_NO_PYRAF
    except Exception as err:  # a bad request or job file: answered, not a dead session
        print(f"PyRAF session: {type(err).__name__}: {err}", file=sys.stderr)
        return runner, EXIT_IRAF_FAILED
    finally:
        os.chdir(home)


def print_version():
    with tempfile.TemporaryDirectory(prefix="ccdphot-pyraf-") as tmp:
        _private_environment(tmp)
        iraf = _import_iraf()
        import pyraf
        print(f"IRAF {iraf.envget('version')} (PyRAF {pyraf.__version__})")


def _restart(argv, environment, race):
    """Run the worker afresh in this process (exec) after a StartupRace, or give up.

    A session hands the request it was running to the new process.
    """
    attempt = int(environment.get(_ATTEMPT_VARIABLE, "1"))
    if attempt >= START_ATTEMPTS:
        print(f"PyRAF/IRAF start-up failed {attempt} times: {race}", file=sys.stderr)
        return EXIT_NO_PYRAF
    print(f"{RESTART_NOTE} (attempt {attempt + 1} of {START_ATTEMPTS}): {race}",
          file=sys.stderr, flush=True)
    sys.stdout.flush()
    pending = {_PENDING_VARIABLE: race.pending} if getattr(race, "pending", None) else {}
    os.execve(sys.executable, [sys.executable, "-m", _MODULE, *argv],
              {**environment, _ATTEMPT_VARIABLE: str(attempt + 1), **pending})
    return EXIT_NO_PYRAF  # not reached: execve replaces this process


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    pending = os.environ.pop(_PENDING_VARIABLE, None)
    environment = dict(os.environ)
    if len(argv) != 1:
        print(f"usage: python -m {_MODULE} JOB.json | --serve | --version", file=sys.stderr)
        return 1
    try:
        if argv == ["--version"]:
            print_version()
        elif argv == ["--serve"]:
            start = os.getcwd()
            try:
                with tempfile.TemporaryDirectory(prefix="pyraf-home-", dir=start) as home:
                    return serve(Path(home), pending)
            finally:
                os.chdir(start)  # a restart (exec) must not start in the removed HOME
        else:
            try:
                run_job(argv[0])
            except IrafTaskFailed as err:
                print(err, file=sys.stderr)
                return EXIT_IRAF_FAILED
    except StartupRace as race:  # every directory of the job is restored by now
        code = _restart(argv, environment, race)  # returns only when giving up
        if argv == ["--serve"]:  # answer the job the session was starting for
            print(json.dumps({"returncode": code, "ended": True}), flush=True)
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
