"""The wrapper contract: every external tool is run as one small job object.

A wrapper module defines one job class (a frozen dataclass built on
:class:`ToolJob`), constructed as ``Job(tool, work_dir, **inputs)`` and run
with ``job.run()``, which always goes the same way:

1. the files the tool writes (``outputs``, ``optional_outputs``) are removed
   from the work directory, so a stale file is never read as a fresh one;
2. ``build()`` writes the tool's input and parameter files into the work
   directory and returns its argument list (file names relative to it);
3. ``execute(args)`` runs the tool through :func:`run_tool`, the one runner
   (plumbum, argv list, stdin closed, timeout, its own process group, output
   into the log); IRAF jobs go through :func:`ccdphot.wrappers.pyraf.run_iraf`,
   itself a ``run_tool`` call (in a persistent PyRAF session when there is one);
4. ``parse(run)`` reads what the tool wrote with the module's pure parsing
   functions (tested on recorded outputs) into astropy objects;
5. ``check(result)`` applies the tool's own quality figures; a plate solver's
   result is checked by :class:`Acceptance`, which raises
   :class:`~ccdphot.errors.SolutionRejected` (an ``AstrometryError``) with the
   figures, whichever solver it was.

Every job returns a :class:`ToolResult`: :class:`CatalogResult` (an astropy
``Table``) or :class:`SolutionResult` (a celestial ``WCS``, the number of
matched stars and the tool's own RMS), each with the tool's own figures (a
JSON-ready dict for run.json) and the :class:`ToolRun`.

Helpers shared by the AstrOmatic tools (SExtractor, SCAMP): parameter files
shipped in ``default_params/<tool>/`` (:func:`param_file`) rendered with
overrides by :func:`render_astromatic_config`.
"""

import logging
import math
import os
import re
import shlex
import signal
import subprocess
import time
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS, FITSFixedWarning
from astropy.wcs.utils import proj_plane_pixel_scales
from plumbum import local

from ccdphot.errors import OutputParseError, SolutionRejected, ToolError, ToolTimeoutError

log = logging.getLogger(__name__)
# Tool stdout/stderr lines: in the frame's ccdphot.log, not on the user's console.
TOOL_OUTPUT_LOGGER = "ccdphot.tool_output"
_tool_output = logging.getLogger(TOOL_OUTPUT_LOGGER)

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_DIGITS = re.compile(r"[0-9]+(\.[0-9]+)?")
_STDERR_TAIL_LINES = 5


@dataclass(frozen=True)
class ToolRun:
    """What one tool call did: argv, exit code, captured text and duration."""

    argv: tuple
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def clean_output(text):
    """Tool output as plain lines: ANSI codes removed, progress counters collapsed.

    Consecutive lines that differ only in their digits (``Line: 25 Objects: 53``,
    ``Line: 50 Objects: 111``, ...) are one progress display: only its last
    line is kept.
    """
    lines, shapes = [], []
    for raw in _ANSI.sub("", text).replace("\r", "\n").splitlines():
        line = raw.strip()
        if not line or line == ">":
            continue
        shape = " ".join(_DIGITS.sub("#", line).split())
        if shapes and shapes[-1] == shape:
            lines[-1] = line
        else:
            lines.append(line)
            shapes.append(shape)
    return lines


def stderr_tail(text, n_lines=_STDERR_TAIL_LINES):
    """The last lines of a tool's stderr, joined for a one-line error message."""
    return " | ".join(clean_output(text)[-n_lines:])


def kill_process_group(process):
    """Kill a tool process started in its own session, with every process it started,
    and reap it (a tool never outlives the job that ran it)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _run_process(tool, args, cwd, timeout_s):
    """(exit code, stdout, stderr) of one tool process, started in its own session.

    Its own session (process group): Ctrl-C on the terminal reaches ccdphot,
    not the tool, so the frame is recorded as interrupted, not as a failed
    tool; ccdphot then kills the tool's whole group, as on a timeout.
    """
    command = local[tool.executable][[*tool.argv[1:], *args]]
    process = command.popen(cwd=str(cwd), stdin=subprocess.DEVNULL, new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except BaseException:  # the timeout, Ctrl-C, a stopping worker
        kill_process_group(process)
        raise
    return (process.returncode, stdout.decode(errors="replace"),
            stderr.decode(errors="replace"))


def run_tool(tool, args, cwd, expect=(), timeout_s=None):
    """Run ``tool`` (a :class:`~ccdphot.tools.ResolvedTool`) with ``args`` in ``cwd``.

    Arguments are passed as an argv list, never through a shell. Give file
    arguments relative to ``cwd`` so paths with spaces never reach the tool.
    ``expect`` lists files (relative to ``cwd``) the tool must have written.
    A tool with a persistent session (``tool.session``, see
    :mod:`ccdphot.wrappers.session`) runs the same arguments in its session
    process instead of a new process; everything else is the same.
    Raises :class:`ToolError` on a non-zero exit or a missing output, and
    :class:`ToolTimeoutError` when the timeout passes.
    """
    cwd = Path(cwd)
    args = [str(a) for a in args]
    argv = (*tool.argv, *args)
    timeout_s = tool.timeout_s if timeout_s is None else timeout_s
    session = getattr(tool, "session", None)
    log.info("run %s: %s (in work directory, timeout %g s%s)", tool.label, shlex.join(argv),
             timeout_s, ", persistent session" if session is not None else "")
    start = time.perf_counter()
    try:
        if session is not None:
            returncode, stdout, stderr = session.run(args, cwd, timeout_s)
        else:
            returncode, stdout, stderr = _run_process(tool, args, cwd, timeout_s)
    except subprocess.TimeoutExpired as err:
        raise ToolTimeoutError(
            tool.label,
            f"did not finish within {timeout_s:g} s and was stopped; raise timeout_s in "
            f"[tools.{tool.name}] if the frame is just large",
            argv=argv) from err
    except OSError as err:
        raise ToolError(tool.label, f"could not be started: {err.strerror or err}",
                        argv=argv) from err
    seconds = time.perf_counter() - start
    for stream, text in (("stdout", stdout), ("stderr", stderr)):
        for line in clean_output(text):
            _tool_output.debug("%s %s: %s", tool.label, stream, line)
    if returncode != 0:
        raise ToolError(tool.label, "failed", argv=argv, returncode=returncode,
                        stderr_tail=stderr_tail(stderr or stdout))
    for name in expect:
        path = cwd / name
        if not path.is_file() or path.stat().st_size == 0:
            raise ToolError(tool.label, f"finished but did not write {name}", argv=argv,
                            returncode=returncode, stderr_tail=stderr_tail(stderr or stdout))
    log.info("%s finished in %.2f s", tool.label, seconds)
    return ToolRun(argv=argv, returncode=returncode, stdout=stdout, stderr=stderr,
                   seconds=seconds)


@dataclass(frozen=True)
class ToolResult:
    """What every job returns: the tool's own figures (JSON-ready) and its run."""

    figures: dict
    run: ToolRun


@dataclass(frozen=True)
class CatalogResult(ToolResult):
    """A catalogue the tool measured, with units and the tool's figures in meta."""

    table: Table


@dataclass(frozen=True)
class SolutionResult(ToolResult):
    """A plate solution: the celestial WCS, how many stars it matched and the
    tool's own residual figure in arcsec (``rms_arcsec``: the larger of the RA
    and Dec RMS where the tool gives both, else its one residual figure)."""

    wcs: WCS
    n_matched: int
    rms_arcsec: float


@dataclass(frozen=True)
class Acceptance:
    """What a plate solution must meet (``[astrometry] min_matches, max_rms_pix``)."""

    min_matches: int = 1
    max_rms_pix: float = math.inf

    def check(self, label, n_matched, rms_arcsec, pixel_scale_arcsec, figures=None):
        """Raise :class:`SolutionRejected` naming ``label`` when a threshold is missed."""
        figures = {"n_matched": n_matched, "rms_arcsec": rms_arcsec, **(figures or {})}
        if n_matched < self.min_matches:
            raise SolutionRejected(label, f"{n_matched} stars matched, fewer than "
                                   f"[astrometry] min_matches={self.min_matches}", figures)
        limit = self.max_rms_pix * pixel_scale_arcsec
        if not math.isfinite(rms_arcsec) or rms_arcsec > limit:
            raise SolutionRejected(
                label, f"RMS {rms_arcsec:.3f} arcsec over {n_matched} stars exceeds "
                f"[astrometry] max_rms_pix={self.max_rms_pix:g} ({limit:.3f} arcsec)", figures)


@dataclass(frozen=True)
class ToolJob:
    """One run of one tool in ``work_dir``: build -> execute -> parse -> check.

    Subclasses add their inputs as keyword-only fields and implement
    :meth:`build` and :meth:`parse`; ``outputs`` lists the files the tool must
    write, ``optional_outputs`` those it may write (both removed before the run).
    """

    tool: Any  # a ccdphot.tools.ResolvedTool
    work_dir: Path
    outputs: ClassVar[tuple] = ()
    optional_outputs: ClassVar[tuple] = ()

    def __post_init__(self):
        object.__setattr__(self, "work_dir", Path(self.work_dir))

    def run(self):
        """Run the job; returns its :class:`ToolResult`."""
        for name in (*self.outputs, *self.optional_outputs):
            self.path(name).unlink(missing_ok=True)
        result = self.parse(self.execute(self.build()))
        self.check(result)
        return result

    @property
    def label(self):
        """How log lines and errors name the job: the tool's label."""
        return self.tool.label

    def path(self, name):
        """A file of the work directory."""
        return self.work_dir / name

    def build(self):
        """Write the input files; return the tool's arguments."""
        raise NotImplementedError

    def execute(self, args):
        """Run the tool (through :func:`run_tool`); returns the :class:`ToolRun`."""
        return run_tool(self.tool, args, cwd=self.work_dir, expect=self.outputs)

    def parse(self, run):
        """Read the outputs into a :class:`ToolResult` (pure parsing functions)."""
        raise NotImplementedError

    def check(self, result):
        """Refuse a result the tool's own figures reject (none to check by default)."""


@dataclass(frozen=True, kw_only=True)
class SolutionJob(ToolJob):
    """A plate solver's job: its :class:`SolutionResult` is checked by ``acceptance``."""

    acceptance: Acceptance = Acceptance()

    def check(self, result):
        log.info("%s: %d stars matched, RMS %.3f arcsec", self.label, result.n_matched,
                 result.rms_arcsec)
        scale = float(proj_plane_pixel_scales(result.wcs.celestial).mean() * 3600.0)
        self.acceptance.check(self.label, result.n_matched, result.rms_arcsec, scale,
                              result.figures)


def param_file(tool_dir, name):
    """Path of a shipped parameter file ``default_params/<tool_dir>/<name>``."""
    path = resources.files("ccdphot.default_params").joinpath(tool_dir, name)
    return Path(str(path))


def format_astromatic_value(value):
    """A Python value as an AstrOmatic (SExtractor, SCAMP, PSFEx, SWarp) config value."""
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, (list, tuple)):
        return ",".join(format_astromatic_value(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def render_astromatic_config(template, overrides, dest):
    """Write an AstrOmatic ``KEY value # comment`` file: ``template`` with
    ``overrides`` (a mapping KEY -> value) applied; keys not in the template are
    appended. Returns ``dest``."""
    pending = {key.upper(): value for key, value in overrides.items()}
    out = []
    for line in Path(template).read_text().splitlines():
        body, hash_, comment = line.partition("#")
        fields = body.split(None, 1)
        if fields and fields[0].upper() in pending:
            key = fields[0]
            value = format_astromatic_value(pending.pop(key.upper()))
            line = f"{key:<16} {value:<24}" + (f" #{comment}" if hash_ else "")
        out.append(line)
    for key, value in pending.items():
        out.append(f"{key:<16} {format_astromatic_value(value)}")
    dest = Path(dest)
    dest.write_text("\n".join(out) + "\n")
    return dest


def read_header_wcs(path, tool_label):
    """(header, celestial WCS) of a FITS file or header a tool wrote (pure parsing).

    Raises :class:`OutputParseError` naming the file when it cannot be read or
    holds no celestial WCS.
    """
    path = Path(path)
    try:
        header = fits.getheader(path)
    except OSError as err:
        raise OutputParseError(f"{path.name}: cannot read the WCS {tool_label} wrote "
                               f"({err})") from err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header, naxis=2, relax=True)
    if not wcs.has_celestial:
        raise OutputParseError(f"{path.name}: {tool_label} wrote no celestial WCS")
    return header, wcs
