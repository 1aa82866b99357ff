"""Subprocess worker that runs a job of IRAF task calls through PyRAF.

``python -m ccdphot.wrappers.pyraf_worker JOB.json`` runs the calls of a job
file (written by :mod:`ccdphot.wrappers.pyraf`) in the current directory, with
a private HOME, IRAF ``uparm`` and PyRAF cache below it, so that parallel jobs
never share IRAF state. ``--version`` prints the IRAF and PyRAF versions.

Job file (JSON)::

    {"private_dir": ".iraf/phot", "cache_dir": ".iraf/cache", "iraf_root": "",
     "calls": [{"package": "noao.digiphot.daophot", "task": "datapars",
                "params": {"fwhmpsf": 3.1}, "pset": true},
               {"package": "noao.digiphot.daophot", "task": "phot",
                "params": {"image": "frame.fits", ...}, "stdout": "phot.log"}]}

Each call unlearns the task first; a ``pset`` call then sets ``params`` (its
values serve the next task calls), any other call runs the task with
``params`` as its arguments (so query parameters never prompt).
Every IRAF failure ends the worker with exit code 2 and a one-line message on
stderr naming the task.
"""

import contextlib
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
_IRAF_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+-]+$")


def _private_environment(base, iraf_root="", cache_dir=None):
    """Point HOME, USER, the PyRAF cache and (optionally) IRAF at private places.

    ``cache_dir`` (PyRAF's compiled-CL cache, an SQLite file safe to share)
    may be shared by the jobs of one work directory; it saves ~0.3 s a job.
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
    return base


def _import_iraf(uparm):
    """Import PyRAF's iraf object (exit 3 with a one-line reason when impossible)."""
    try:
        from pyraf import iraf
    except BaseException as err:  # PyRAF exits or raises many types without IRAF
        print(f"PyRAF/IRAF not usable: {type(err).__name__}: {err}", file=sys.stderr)
        sys.exit(EXIT_NO_PYRAF)
    iraf.set(uparm=str(uparm).rstrip("/") + "/")
    return iraf


def _load_package(iraf, dotted, loaded):
    for i, name in enumerate(dotted.split(".")):
        key = ".".join(dotted.split(".")[:i + 1])
        if key not in loaded:
            getattr(iraf, name)(_doprint=0)
            loaded.add(key)


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


def run_job(job_path):
    job = json.loads(Path(job_path).read_text())
    with _iraf_safe_directory(job) as cwd:
        _run_calls(job, cwd)


def _run_calls(job, cwd):
    base = _private_environment(cwd / job.get("private_dir", "iraf_home"), job.get("iraf_root", ""),
                                cwd / job["cache_dir"] if job.get("cache_dir") else None)
    iraf = _import_iraf(base / "uparm")
    iraf.chdir(str(cwd))
    loaded = set()
    for call in job["calls"]:
        task_name = call["task"]
        start = time.perf_counter()
        try:
            if call.get("package"):
                _load_package(iraf, call["package"], loaded)
            task = getattr(iraf, task_name)
            iraf.unlearn(task_name)
            params = call.get("params", {})
            if call.get("pset"):
                for name, value in params.items():
                    task.setParam(name, value)
                continue
            for name in call.get("remove", ()):
                Path(name).unlink(missing_ok=True)
            redirect = {"Stdout": call["stdout"]} if call.get("stdout") else {}
            task(**params, **redirect)
        except BaseException as err:  # IrafError, KeyError, SystemExit from IRAF tasks
            message = " ".join(str(err).split()) or type(err).__name__
            print(f"IRAF task {task_name} failed: {message}", file=sys.stderr)
            sys.exit(EXIT_IRAF_FAILED)
        print(f"{task_name}: {time.perf_counter() - start:.2f} s", flush=True)


def print_version():
    with tempfile.TemporaryDirectory(prefix="ccdphot-pyraf-") as tmp:
        base = _private_environment(tmp)
        iraf = _import_iraf(base / "uparm")
        import pyraf
        print(f"IRAF {iraf.envget('version')} (PyRAF {pyraf.__version__})")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--version"]:
        print_version()
        return 0
    if len(argv) != 1:
        print("usage: python -m ccdphot.wrappers.pyraf_worker JOB.json | --version",
              file=sys.stderr)
        return 1
    run_job(argv[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
