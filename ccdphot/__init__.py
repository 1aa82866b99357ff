"""ccdphot: CCD photometry from raw FITS frames with the classic tools.

``ccdphot.run(path)`` processes one frame and returns the unified astropy
Table and the run record; ``ccdphot run`` does the same from the shell.
"""

__version__ = "0.2.0"

from ccdphot.config import load_config  # noqa: E402
from ccdphot.errors import CCDPhotError  # noqa: E402

__all__ = ["run", "load_config", "RunResult", "CCDPhotError", "__version__"]


def __getattr__(name):
    """``run`` and ``RunResult`` load the pipeline on first use, so that tool workers
    started as ``python -m ccdphot.wrappers...`` do not pay for importing it."""
    if name in ("run", "RunResult"):
        from ccdphot.frame import pipeline
        return getattr(pipeline, name)
    raise AttributeError(f"module 'ccdphot' has no attribute {name!r}")
