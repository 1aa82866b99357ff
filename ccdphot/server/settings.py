"""What a running server is configured with: places, limits, the engine's run.

One frozen object built by ``ccdphot serve`` (or a test) and handed to the
application; nothing else holds server configuration.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

DEFAULT_DATA_DIR = "ccdphot-data"
DATABASE_FILE = "ccdphot.sqlite"


def default_database_url(data_dir):
    """The embedded default: an SQLite file inside the data folder."""
    return f"sqlite:///{Path(data_dir).resolve() / DATABASE_FILE}"


@dataclass(frozen=True)
class ServerSettings:
    """Configuration of one server process."""

    data_dir: Path
    database_url: str
    engine_config: dict  # the thawed effective ccdphot configuration of every frame
    steps: Optional[tuple] = None  # steps of every frame (None: the configured sequence)
    scheduler: Optional[str] = None  # a Dask scheduler address; None: a local cluster
    workers: Optional[int] = None  # local worker processes (None: one per CPU)
    max_upload_bytes: int = 100 * 1024 * 1024
    max_megapixels: float = 100.0  # largest image accepted (NAXIS1 x NAXIS2 / 1e6)
    uploads_per_minute: int = 60  # per observer token, dry runs included
    targets_public: bool = True  # whether a new target's light curve is public
    title: str = "ccdphot calibration server"

    @property
    def max_pixels(self):
        return int(self.max_megapixels * 1_000_000)
