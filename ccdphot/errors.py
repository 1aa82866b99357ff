"""Typed errors of ccdphot: every failure a user can meet is one of these.

Each message is one line that names what is wrong (the file, the keyword, the
tool) and says what to do about it. Callers raise them ``from`` the original
exception, so the traceback is still there for a developer who asks for it.
"""


class CCDPhotError(Exception):
    """Base of every error ccdphot raises on purpose."""


class ConfigError(CCDPhotError):
    """The configuration (TOML file or option) is malformed or inconsistent."""


class InputError(CCDPhotError):
    """An input file cannot be used: missing, not FITS, no 2-D image, no data."""


class OutputError(CCDPhotError):
    """The output directory cannot be created or written."""


class ClusterError(CCDPhotError):
    """The Dask cluster of a batch cannot be reached, has no workers, or lost them all."""


class StepUnavailableError(CCDPhotError):
    """A step was asked for that this version of ccdphot does not provide."""


class ToolError(CCDPhotError):
    """An external tool failed: non-zero exit, missing output, unusable result."""

    def __init__(self, tool, message, argv=None, returncode=None, stderr_tail=""):
        self.tool = tool
        self.argv = list(argv or [])
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        details = []
        if argv:
            details.append(f"command: {' '.join(map(str, self.argv))}")
        if returncode is not None:
            details.append(f"exit code {returncode}")
        if stderr_tail:
            details.append(f"stderr ends: {stderr_tail}")
        text = f"{tool}: {message}"
        if details:
            text += " (" + "; ".join(details) + ")"
        super().__init__(text)


class ToolNotFoundError(ToolError):
    """The tool's executable could not be found or is too old."""


class ToolTimeoutError(ToolError):
    """The tool ran longer than its configured timeout and was stopped."""


class OutputParseError(CCDPhotError):
    """A tool's output file exists but cannot be read as expected."""


class CatalogError(CCDPhotError):
    """No usable reference catalogue: servers down, nothing cached, unreadable file."""


class AstrometryError(CCDPhotError):
    """No acceptable WCS: no pointing, no pattern match, too few stars or too large RMS."""


class SolutionRejected(AstrometryError):
    """A plate solver found a solution that its quality figures reject.

    ``figures`` holds the figures that decided (matched stars, RMS, ...), the
    same names whichever tool (SCAMP, ccmap, imwcs, astrometry.net) it was.
    """

    def __init__(self, source, reason, figures):
        self.source = source
        self.figures = dict(figures)
        super().__init__(f"{source}: solution rejected: {reason}")


class ZeroPointError(CCDPhotError):
    """A frame cannot be calibrated (no overlap, no usable star, no route to its band)."""


class StepFailedError(CCDPhotError):
    """A step of the per-frame pipeline raised; ``step`` names it, ``reason`` says why.

    :meth:`for_frame` gives what the caller of the pipeline sees: the step's own
    ccdphot error (or this one, for an exception of another kind), with
    ``step`` and ``result`` (the frame's RunResult) set on it.
    """

    def __init__(self, step, reason):
        self.step = step
        self.reason = reason
        self.result = None
        super().__init__(f"failed at {step}: {reason}")

    def for_frame(self, result):
        error = self.__cause__ if isinstance(self.__cause__, CCDPhotError) else self
        error.step, error.result = self.step, result
        return error
