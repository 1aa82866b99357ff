"""The wrapper contract shared by every external tool.

*Build*, *run*, *parse*: a wrapper renders its parameter files from
``default_params/<tool>/`` plus overrides into the frame's work directory
(:func:`render_astromatic_config`, :func:`param_file`), runs the tool through
:func:`run_tool` (plumbum, argv list, stdin closed, timeout, output into the
log) and parses what the tool wrote with pure functions.
"""

import logging
import re
import shlex
import subprocess
import time
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning
from plumbum import local
from plumbum.commands.processes import ProcessTimedOut

from ccdphot.errors import OutputParseError, ToolError, ToolTimeoutError

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


def run_tool(tool, args, cwd, expect=(), timeout_s=None):
    """Run ``tool`` (a :class:`~ccdphot.tools.ResolvedTool`) with ``args`` in ``cwd``.

    Arguments are passed as an argv list, never through a shell. Give file
    arguments relative to ``cwd`` so paths with spaces never reach the tool.
    ``expect`` lists files (relative to ``cwd``) the tool must have written.
    Raises :class:`ToolError` on a non-zero exit or a missing output, and
    :class:`ToolTimeoutError` when the timeout passes.
    """
    cwd = Path(cwd)
    args = [str(a) for a in args]
    argv = (*tool.argv, *args)
    timeout_s = tool.timeout_s if timeout_s is None else timeout_s
    log.info("run %s: %s (in work directory, timeout %g s)", tool.label, shlex.join(argv), timeout_s)
    command = local[tool.executable][[*tool.argv[1:], *args]]
    start = time.perf_counter()
    try:
        returncode, stdout, stderr = command.run(
            retcode=None, timeout=timeout_s, cwd=str(cwd), stdin=subprocess.DEVNULL)
    except ProcessTimedOut as err:
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
