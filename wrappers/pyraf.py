"""Run IRAF tasks through PyRAF in a subprocess worker, one private IRAF per job.

A job is a sequence of :class:`IrafCall` (package, task, parameters). It is
written as JSON into the work directory and run by
``python -m ccdphot.wrappers.pyraf_worker`` through :func:`run_tool`, so IRAF
jobs follow the wrapper contract: argv list, timeout from ``[tools.iraf]``,
output into the log, :class:`~ccdphot.errors.ToolError` with the exit code
and the stderr tail, expected output files checked.

Every job gets its own IRAF ``uparm`` under ``<work>/.iraf/<job>/`` (so
parallel jobs never collide), IRAF's working directory is the work directory,
and every task is unlearned before its parameters are set, so a call depends
on nothing but what it passes. A job runs in a fresh PyRAF process (HOME and
PyRAF's compiled-script cache, an SQLite file, in ``<work>/.iraf/``), or, when
the resolved tool has a persistent session (``[tools.iraf] persistent``, see
:mod:`ccdphot.wrappers.session`), in that session's PyRAF, which also unlearns
every task an earlier job touched.
Tasks run with ``interactive=no, verify=no`` when they have those parameters
(the callers pass them). A work directory whose path IRAF cannot use (spaces,
shell characters) is handled by the worker (a stand-in directory of links).
When PyRAF's start-up hit its known race (see :mod:`ccdphot.wrappers.pyraf_worker`)
and the worker restarted, a warning says so. Remember: IRAF pixel coordinates
are 1-based, and DAOPHOT never overwrites an output file (list it in ``remove``).
"""

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from ccdphot.wrappers.base import clean_output, run_tool
from ccdphot.wrappers.pyraf_worker import RESTART_NOTE

log = logging.getLogger(__name__)

PRIVATE_ROOT = ".iraf"
_JOB_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class IrafCall:
    """One IRAF task call: ``pset`` calls only set parameters for later calls.

    ``stdout`` captures the task's terminal output into that file; ``remove``
    lists files deleted just before the task runs (its fresh outputs).
    """

    task: str
    params: dict = field(default_factory=dict)
    package: str = ""
    pset: bool = False
    stdout: str = ""
    remove: tuple = ()

    def as_json(self):
        return {"task": self.task, "params": dict(self.params), "package": self.package,
                "pset": self.pset, "stdout": self.stdout, "remove": list(self.remove)}


def run_iraf(tool, calls, cwd, job, expect=(), timeout_s=None):
    """Run ``calls`` (IrafCall) as job ``job`` in ``cwd``; returns the ToolRun.

    ``job`` names the job file ``<job>.json`` and the private IRAF directory;
    give concurrent jobs different names. File names in the parameters are
    relative to ``cwd``.
    """
    if not _JOB_NAME.match(job):
        raise ValueError(f"IRAF job name {job!r} must be a plain file-name stem")
    cwd = Path(cwd)
    spec = {"private_dir": f"{PRIVATE_ROOT}/{job}", "cache_dir": f"{PRIVATE_ROOT}/cache",
            "iraf_root": tool.spec.get("iraf_root", ""),
            "calls": [call.as_json() for call in calls]}
    job_file = f"{job}.json"
    (cwd / job_file).write_text(json.dumps(spec, indent=1) + "\n")
    log.debug("IRAF job %s: %s", job, ", ".join(c.task for c in calls if not c.pset))
    done = run_tool(tool, [job_file], cwd, expect=expect, timeout_s=timeout_s)
    for line in clean_output(done.stderr):
        if line.startswith(RESTART_NOTE):
            log.warning("IRAF job %s: %s", job, line)
    return done
