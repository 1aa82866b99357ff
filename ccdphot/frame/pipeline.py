"""Run frames through the step sequence and keep the record of what happened.

For each frame: validate the input, make the working copy, run the requested
steps in their declared order, then always write the products. ``run.json`` is
rewritten after every step, so even a run killed mid-step says where it was.
"""

import contextvars
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType

from ccdphot import __version__
from ccdphot.config import config_sha256, load_config, thaw
from ccdphot.errors import (
    CCDPhotError,
    ConfigError,
    StepFailedError,
    StepUnavailableError,
)
from ccdphot.fitsio import celestial_wcs, frame_stem, read_frame, working_header
from ccdphot.frame.context import FrameContext
from ccdphot.frame.steps import STEP_BY_NAME, STEP_NAMES, STEPS
from ccdphot.products import LOG_NAME, prepare_output, write_fits_atomic, write_run_json
from ccdphot.tools import ToolRegistry
from ccdphot.wrappers.base import TOOL_OUTPUT_LOGGER

log = logging.getLogger(__name__)
_PACKAGE_LOGGER = logging.getLogger("ccdphot")
_TOOL_OUTPUT_LOGGER = logging.getLogger(TOOL_OUTPUT_LOGGER)
# Tracebacks of unexpected failures: in the frame log, on the console only with --debug.
_TRACEBACK_LOGGER = logging.getLogger(TOOL_OUTPUT_LOGGER + ".traceback")


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


_current_frame = contextvars.ContextVar("ccdphot_current_frame", default=None)
_levels_lock = threading.Lock()
_frames_logging = 0
_saved_levels = []


class _OnlyThisFrame(logging.Filter):
    """Pass only records logged while this frame is processed (in its thread or task)."""

    def __init__(self, token):
        super().__init__()
        self.token = token

    def filter(self, record):
        return _current_frame.get() is self.token


class _FrameLog:
    """Attach a per-frame log file to the ccdphot loggers for the frame's duration.

    The file gets ccdphot's INFO messages and every line the tools printed, of
    this frame only: frames processed at the same time in other threads (a
    batch worker) write to their own files. The tool lines stay out of the
    caller's own handlers unless the caller enabled DEBUG for ``ccdphot``
    (``ccdphot --debug``). Logger levels are set when the first frame starts
    and restored when the last one ends.
    """

    def __init__(self, path, stem):
        self.token = object()
        self.handler = logging.FileHandler(path, mode="w", encoding="utf-8")
        self.handler.setLevel(logging.DEBUG)
        self.handler.addFilter(_OnlyThisFrame(self.token))
        self.handler.setFormatter(logging.Formatter(
            f"%(asctime)s {stem} %(levelname)-7s %(name)s: %(message)s"))
        self._context = None

    def __enter__(self):
        global _frames_logging
        with _levels_lock:
            if _frames_logging == 0:
                _saved_levels[:] = [(logger, logger.level, logger.propagate)
                                    for logger in (_PACKAGE_LOGGER, _TOOL_OUTPUT_LOGGER)]
                debugging = _PACKAGE_LOGGER.isEnabledFor(logging.DEBUG)
                if not _PACKAGE_LOGGER.isEnabledFor(logging.INFO):
                    _PACKAGE_LOGGER.setLevel(logging.INFO)
                _TOOL_OUTPUT_LOGGER.setLevel(logging.DEBUG)
                _TOOL_OUTPUT_LOGGER.propagate = debugging
            _frames_logging += 1
        self._context = _current_frame.set(self.token)
        for logger in (_PACKAGE_LOGGER, _TOOL_OUTPUT_LOGGER):
            logger.addHandler(self.handler)
        return self

    def __exit__(self, *exc):
        global _frames_logging
        for logger in (_PACKAGE_LOGGER, _TOOL_OUTPUT_LOGGER):
            logger.removeHandler(self.handler)
        _current_frame.reset(self._context)
        self.handler.close()
        with _levels_lock:
            _frames_logging -= 1
            if _frames_logging == 0:
                for logger, level, propagate in _saved_levels:
                    logger.setLevel(level)
                    logger.propagate = propagate


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
        "config_sha256": config_sha256(ctx.config),
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


def describe_error(err):
    """One line for any exception: ccdphot's own message, or another's type and message."""
    if isinstance(err, CCDPhotError):
        return str(err)
    text = " ".join(str(err).split()) or "no message"
    return f"{type(err).__name__}: {text}"


def _run_step(ctx, entry, function):
    """Run one step and record it in ``entry``.

    Any exception fails the step (raised as :class:`StepFailedError` naming the
    step); an unexpected one (not a ccdphot error) also leaves its traceback
    in the frame log. KeyboardInterrupt and SystemExit mark the step
    interrupted and go on up.
    """
    log.info("=== step %s ===", entry["name"])
    start = time.perf_counter()
    entry["status"] = "running"
    try:
        figures = function(ctx) or {}
    except Exception as err:
        reason = describe_error(err)
        entry.update(status="failed", seconds=round(time.perf_counter() - start, 3),
                     error=reason)
        log.error("--- %s failed after %.2f s: %s", entry["name"], entry["seconds"], reason)
        if not isinstance(err, CCDPhotError):
            _TRACEBACK_LOGGER.debug("traceback of the %s failure", entry["name"], exc_info=True)
        raise StepFailedError(entry["name"], reason) from err
    except BaseException:
        entry.update(status="interrupted", seconds=round(time.perf_counter() - start, 3))
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


def run_frame(path, config, steps=None, out=None, options=None, tools=None, name=None):
    """Process one frame into ``out/<name>/``; return a :class:`RunResult`.

    ``name`` (default: the file name without its FITS suffixes) names the
    results folder and the frame in the products (a batch gives two inputs of
    the same file name distinct names).

    Whatever happens inside a step, the products made so far are written and
    ``run.json`` says where the frame stopped and why. A failed frame raises the
    step's own :class:`~ccdphot.errors.CCDPhotError` (any other exception wrapped
    in a :class:`~ccdphot.errors.StepFailedError`), with ``.step`` and ``.result``
    (the RunResult) set; KeyboardInterrupt and SystemExit are recorded as
    ``interrupted at <step>`` and re-raised.

    ``tools`` (a :class:`~ccdphot.tools.ToolRegistry`) is shared by the frames
    of one caller, with its persistent tool sessions; without, the frame gets
    its own registry, whose sessions end with the frame.
    """
    if tools is None:
        with ToolRegistry(config, sessions=True) as own_tools:
            return run_frame(path, config, steps, out, options, own_tools, name)
    path = Path(path)
    plan = plan_steps(steps, config["run"]["steps"])
    if not path.exists():
        read_frame(path)  # raises the one-line "no such file" InputError
    stem = name or frame_stem(path)
    out_dir, work_dir = prepare_output(out or config["run"]["output_dir"], stem)
    ctx = FrameContext(input_path=path.resolve(), stem=stem, out_dir=out_dir,
                       work_dir=work_dir, config=config,
                       tools=tools.for_frame(),
                       options=MappingProxyType(dict(options or {})),
                       planned_steps=tuple(step.name for step, _ in plan if step.available),
                       requested_steps=tuple(steps or ()))
    record = _new_record(ctx, plan)
    entries = {entry["name"]: entry for entry in record["steps"]}
    failure = interrupted = None
    with _FrameLog(out_dir / LOG_NAME, stem):
        log.info("ccdphot %s: frame %s -> %s", __version__, path, out_dir)
        started = time.perf_counter()
        try:
            _run_steps(ctx, plan, record, entries)
        except StepFailedError as err:
            failure = err
        except BaseException as err:
            interrupted = err
        try:
            _run_step(ctx, entries["write"], STEP_BY_NAME["write"].run)
        except StepFailedError as err:
            failure = failure or err
        if interrupted is not None:
            where = next((e["name"] for e in record["steps"] if e["status"] == "interrupted"),
                         "start")
            record["status"] = f"interrupted at {where}: {type(interrupted).__name__}"
        elif failure is not None:
            record["status"] = f"failed at {failure.step}: {failure.reason}"
        else:
            record["status"] = _final_status(record, explicit=steps is not None)
        _update_record(record, ctx)
        record["finished_utc"] = _now()
        record["seconds"] = round(time.perf_counter() - started, 3)
        write_run_json(out_dir, record)
        log.info("frame %s: %s (%.2f s)", stem, record["status"], record["seconds"])
    if interrupted is not None:
        raise interrupted
    result = RunResult(table=ctx.table, record=record, out_dir=out_dir)
    if failure is not None:
        raise failure.for_frame(result)
    return result


def _run_steps(ctx, plan, record, entries):
    """The input and every planned step but ``write``; run.json rewritten after each."""
    input_entry = {"name": "input", "status": "pending", "seconds": None, "figures": {}}
    record["steps"].insert(0, input_entry)
    _run_step(ctx, input_entry, _load_input)
    write_run_json(ctx.out_dir, record)
    for step, _ in plan:
        if step.name == "write":
            continue
        if not step.available:
            log.info("=== step %s: not available in ccdphot %s (skipped) ===",
                     step.name, __version__)
            continue
        try:
            _run_step(ctx, entries[step.name], step.run)
        finally:
            _update_record(record, ctx)
            write_run_json(ctx.out_dir, record)


def run(path, config=None, steps=None, out=None, options=None):
    """Process one frame from Python, like ``ccdphot run``.

    ``config`` is a path to a TOML file, a dict of overrides, or a config from
    :func:`ccdphot.load_config`; ``steps`` a list of step names (default: the
    configured sequence); ``out`` the results root (default ``RESULTS``).
    Returns a :class:`RunResult` with ``.table`` (the unified astropy Table)
    and ``.record`` (what run.json holds). When a step fails, raises a
    CCDPhotError whose ``result`` is the RunResult, after writing the products
    made so far (see :func:`run_frame`).
    """
    if config is None:
        config = load_config()
    elif isinstance(config, (str, Path)):
        config = load_config(path=config)
    elif isinstance(config, dict):
        config = load_config(data=config)
    return run_frame(path, config, steps=steps, out=out, options=options)
