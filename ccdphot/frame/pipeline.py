"""Run frames through the step sequence and keep the record of what happened.

For each frame: validate the input, make the working copy, run the requested
steps in their declared order, then always write the products. ``run.json`` is
rewritten after every step, so even a run killed mid-step says where it was.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType

from ccdphot import __version__
from ccdphot.config import load_config, thaw
from ccdphot.errors import CCDPhotError, ConfigError, StepUnavailableError
from ccdphot.fitsio import celestial_wcs, frame_stem, read_frame, working_header
from ccdphot.frame.context import FrameContext
from ccdphot.frame.steps import STEP_BY_NAME, STEP_NAMES, STEPS
from ccdphot.products import LOG_NAME, prepare_output, write_fits_atomic, write_run_json
from ccdphot.tools import ToolRegistry
from ccdphot.wrappers.base import TOOL_OUTPUT_LOGGER

log = logging.getLogger(__name__)
_PACKAGE_LOGGER = logging.getLogger("ccdphot")
_TOOL_OUTPUT_LOGGER = logging.getLogger(TOOL_OUTPUT_LOGGER)


@dataclass
class RunResult:
    """What :func:`run` returns: the unified table and the run record (run.json)."""

    table: object
    record: dict
    out_dir: Path

    @property
    def ok(self):
        """True when every step asked for ran (steps of the default plan may be skipped)."""
        return self.record["status"].startswith("ok")


def plan_steps(requested=None, configured=()):
    """The ordered step plan: [(Step, explicitly requested?)].

    ``requested`` (from --steps or the API) is strict: an unknown step, a step
    this version lacks, or a missing prerequisite is an error before anything
    runs. ``configured`` (the config's run.steps) skips unavailable steps.
    """
    explicit = requested is not None
    names = list(requested if explicit else configured)
    unknown = [n for n in names if n not in STEP_BY_NAME]
    if unknown:
        raise ConfigError(f"unknown step(s) {', '.join(unknown)}; steps are "
                          f"{', '.join(STEP_NAMES)}")
    if explicit:
        missing = [n for n in names if not STEP_BY_NAME[n].available]
        if missing:
            raise StepUnavailableError(
                f"step(s) {', '.join(missing)} not available in ccdphot {__version__}; "
                f"available: {', '.join(s.name for s in STEPS if s.available)}")
        for name in names:
            lacking = [need for need in STEP_BY_NAME[name].needs if need not in names]
            if lacking:
                raise ConfigError(f"step '{name}' needs {', '.join(lacking)}: add it to --steps")
    chosen = set(names) | {"write"}
    return [(step, explicit) for step in STEPS if step.name in chosen]


class _FrameLog:
    """Attach a per-frame log file to the ccdphot loggers for the frame's duration.

    The file gets ccdphot's INFO messages and every line the tools printed. The
    tool lines stay out of the caller's own handlers unless the caller enabled
    DEBUG for ``ccdphot`` (``ccdphot --debug``).
    """

    def __init__(self, path, stem):
        self.handler = logging.FileHandler(path, mode="w", encoding="utf-8")
        self.handler.setLevel(logging.DEBUG)
        self.handler.setFormatter(logging.Formatter(
            f"%(asctime)s {stem} %(levelname)-7s %(name)s: %(message)s"))
        self._saved = []

    def __enter__(self):
        self._saved = [(logger, logger.level, logger.propagate)
                       for logger in (_PACKAGE_LOGGER, _TOOL_OUTPUT_LOGGER)]
        debugging = _PACKAGE_LOGGER.isEnabledFor(logging.DEBUG)
        if not _PACKAGE_LOGGER.isEnabledFor(logging.INFO):
            _PACKAGE_LOGGER.setLevel(logging.INFO)
        _TOOL_OUTPUT_LOGGER.setLevel(logging.DEBUG)
        _TOOL_OUTPUT_LOGGER.propagate = debugging
        for logger in (_PACKAGE_LOGGER, _TOOL_OUTPUT_LOGGER):
            logger.addHandler(self.handler)
        return self

    def __exit__(self, *exc):
        for logger, level, propagate in self._saved:
            logger.removeHandler(self.handler)
            logger.setLevel(level)
            logger.propagate = propagate
        self.handler.close()


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _new_record(ctx, plan):
    return {
        "ccdphot_version": __version__,
        "input": str(ctx.input_path),
        "frame": ctx.stem,
        "status": "running",
        "started_utc": _now(),
        "finished_utc": None,
        "steps": [{"name": step.name, "status": "pending" if step.available else
                   "not available", "seconds": None, "figures": {}} for step, _ in plan],
        "tools": {},
        "qc": {},
        "details": {},
        "options": thaw(ctx.options),
        "config": thaw(ctx.config),
    }


def _update_record(record, ctx):
    record["tools"] = dict(ctx.tools.used)
    record["qc"] = dict(ctx.qc)
    record["details"] = dict(ctx.details)


def _load_input(ctx):
    data, header, hdu_index = read_frame(ctx.input_path)
    ctx.header = working_header(header, data)
    ctx.shape = data.shape
    ctx.wcs = celestial_wcs(ctx.header)
    write_fits_atomic(ctx.image_path, data, ctx.header)
    return {"hdu": hdu_index, "shape_pix": list(data.shape[::-1]),
            "header_wcs": ctx.wcs is not None}


def _run_step(ctx, entry, function):
    log.info("=== step %s ===", entry["name"])
    start = time.perf_counter()
    entry["status"] = "running"
    try:
        figures = function(ctx) or {}
    except CCDPhotError as err:
        entry.update(status="failed", seconds=round(time.perf_counter() - start, 3),
                     error=str(err))
        log.error("--- %s failed after %.2f s: %s", entry["name"], entry["seconds"], err)
        raise
    skipped = figures.get("applied") is False
    entry.update(status="skipped" if skipped else "ok",
                 seconds=round(time.perf_counter() - start, 3), figures=figures)
    if skipped:
        entry["reason"] = str(figures.get("reason", "no reason given"))
        log.info("--- %s skipped after %.2f s: %s", entry["name"], entry["seconds"],
                 entry["reason"])
        return
    shown = ", ".join(f"{k}={v}" for k, v in figures.items())
    log.info("--- %s ok in %.2f s%s", entry["name"], entry["seconds"],
             f": {shown}" if shown else "")


def _final_status(record, explicit):
    """'ok', 'ok, skipped <step> (<reason>)' or, when a step asked for by name was
    skipped, 'incomplete: <step> skipped (<reason>)'."""
    skipped = [entry for entry in record["steps"] if entry["status"] == "skipped"]
    if not skipped:
        return "ok"
    text = "; ".join(f"{entry['name']} skipped ({entry['reason']})" for entry in skipped)
    if explicit:
        return f"incomplete: {text}"
    return f"ok, {text}"


def run_frame(path, config, steps=None, out=None, options=None, tools=None):
    """Process one frame; return a :class:`RunResult`.

    Raises the step's :class:`~ccdphot.errors.CCDPhotError` after writing the
    products made so far, so callers see the failure and the files are kept.
    """
    path = Path(path)
    plan = plan_steps(steps, config["run"]["steps"])
    if not path.exists():
        read_frame(path)  # raises the one-line "no such file" InputError
    stem = frame_stem(path)
    out_dir, work_dir = prepare_output(out or config["run"]["output_dir"], stem)
    ctx = FrameContext(input_path=path.resolve(), stem=stem, out_dir=out_dir,
                       work_dir=work_dir, config=config,
                       tools=tools or ToolRegistry(config),
                       options=MappingProxyType(dict(options or {})),
                       planned_steps=tuple(step.name for step, _ in plan if step.available),
                       requested_steps=tuple(steps or ()))
    record = _new_record(ctx, plan)
    entries = {entry["name"]: entry for entry in record["steps"]}
    failure = None
    with _FrameLog(out_dir / LOG_NAME, stem):
        log.info("ccdphot %s: frame %s -> %s", __version__, path, out_dir)
        started = time.perf_counter()
        try:
            input_entry = {"name": "input", "status": "pending", "seconds": None, "figures": {}}
            record["steps"].insert(0, input_entry)
            _run_step(ctx, input_entry, _load_input)
            write_run_json(out_dir, record)
            for step, _ in plan:
                entry = entries[step.name]
                if step.name == "write":
                    continue
                if not step.available:
                    log.info("=== step %s: not available in ccdphot %s (skipped) ===",
                             step.name, __version__)
                    continue
                _run_step(ctx, entry, step.run)
                _update_record(record, ctx)
                write_run_json(out_dir, record)
        except CCDPhotError as err:
            failed = next(e for e in record["steps"] if e["status"] == "failed")
            failure = err
            record["status"] = f"failed at {failed['name']}: {err}"
        finally:
            try:
                _run_step(ctx, entries["write"], STEP_BY_NAME["write"].run)
            except CCDPhotError as err:
                if failure is None:
                    failure = err
                    record["status"] = f"failed at write: {err}"
            if failure is None:
                record["status"] = _final_status(record, explicit=steps is not None)
            _update_record(record, ctx)
            record["finished_utc"] = _now()
            record["seconds"] = round(time.perf_counter() - started, 3)
            write_run_json(out_dir, record)
            log.info("frame %s: %s (%.2f s)", stem, record["status"], record["seconds"])
    if failure is not None:
        raise failure
    return RunResult(table=ctx.table, record=record, out_dir=out_dir)


def run(path, config=None, steps=None, out=None, options=None):
    """Process one frame from Python, like ``ccdphot run``.

    ``config`` is a path to a TOML file, a dict of overrides, or a config from
    :func:`ccdphot.load_config`; ``steps`` a list of step names (default: the
    configured sequence); ``out`` the results root (default ``RESULTS``).
    Returns a :class:`RunResult` with ``.table`` (the unified astropy Table)
    and ``.record`` (what run.json holds). Raises a CCDPhotError on failure,
    after writing the products made so far.
    """
    if config is None:
        config = load_config()
    elif isinstance(config, (str, Path)):
        config = load_config(path=config)
    elif isinstance(config, dict):
        config = load_config(data=config)
    return run_frame(path, config, steps=steps, out=out, options=options)
