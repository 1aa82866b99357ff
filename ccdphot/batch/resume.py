"""Resuming a batch: a frame is done when its run.json says ok for the very same run.

The same run means the same ccdphot version, configuration (``config_sha256``),
run options, planned steps and input file. ``ok`` is written by the engine only
when it is true, and run.json is written after every other product, so a frame
that failed, was interrupted or was killed (its run.json then says ``failed``,
``interrupted`` or ``running``) is done again.
"""

import json
import logging
from dataclasses import dataclass

from ccdphot import __version__
from ccdphot.config import config_sha256
from ccdphot.products import RUN_JSON, RUN_SCHEMA

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunFingerprint:
    """What must match in run.json for a frame to count as done."""

    version: str
    config_sha256: str
    steps: tuple  # the planned step names, as run.json lists them
    options_json: str  # the run options, as JSON with sorted keys

    @classmethod
    def of(cls, config, plan, options):
        return cls(version=__version__, config_sha256=config_sha256(config),
                   steps=tuple(step.name for step, _ in plan),
                   options_json=_canonical(options or {}))


def _canonical(value):
    return json.dumps(value, sort_keys=True, default=str)


def status_is_ok(status):
    """True for ``ok`` and ``ok, <step> skipped (...)``: every asked-for step did its work."""
    return status == "ok" or status.startswith("ok,")


def done_record(job, out_root, fingerprint):
    """``job``'s run.json record when it says ok for the run of ``fingerprint``, else None."""
    folder = job.out_dir(out_root)
    try:
        record = json.loads((folder / RUN_JSON).read_text())
    except (OSError, ValueError):
        return None
    planned = tuple(entry.get("name") for entry in record.get("steps", ())
                    if entry.get("name") != "input")
    done = (record.get("schema") == RUN_SCHEMA
            and status_is_ok(record.get("status", ""))
            and record.get("input") == job.input
            and record.get("ccdphot_version") == fingerprint.version
            and record.get("config_sha256") == fingerprint.config_sha256
            and _canonical(record.get("options", {})) == fingerprint.options_json
            and planned == fingerprint.steps)
    if not done and status_is_ok(record.get("status", "")):
        log.info("%s: results of another run (input, version, config, options or steps "
                 "differ): done again", job.name)
    return record if done else None
