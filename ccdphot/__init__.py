"""ccdphot: CCD photometry from raw FITS frames with the classic tools.

``ccdphot.run(path)`` processes one frame and returns the unified astropy
Table and the run record; ``ccdphot run`` does the same from the shell.
"""

__version__ = "0.1.0"

from .config import load_config  # noqa: E402
from .errors import CCDPhotError  # noqa: E402
from .pipeline import RunResult, run  # noqa: E402

__all__ = ["run", "load_config", "RunResult", "CCDPhotError", "__version__"]
