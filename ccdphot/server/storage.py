"""The server's files: uploaded frames under their checksum, each job's products.

::

    DATA/incoming/   uploads being received (temporary names)
    DATA/frames/     accepted frames, named <sha256>.fits
    DATA/results/    <job id>/  the products of each job (ccdphot run layout)

A name sent by a client never becomes a path: frames are named by their
SHA-256, results by the job id the server made. A frame is durable before it
is acknowledged: written, flushed and fsync'ed, renamed into ``frames/``, and
the directory fsync'ed so the rename survives a crash too.
"""

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ccdphot.errors import OutputError
from ccdphot.server.errors import TooLarge

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Received:
    """An upload written to ``incoming/``, with its checksum and size."""

    path: Path
    sha256: str
    size_bytes: int


def fsync_directory(path):
    """Make a rename or a new file in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FrameStore:
    """The data folder of one server."""

    def __init__(self, root):
        self.root = Path(root).resolve()
        self.incoming = self.root / "incoming"
        self.frames = self.root / "frames"
        self.results = self.root / "results"
        try:
            for folder in (self.incoming, self.frames, self.results):
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"cannot create the server's data folder {self.root} "
                              f"({err.strerror or err}); choose a writable --data") from err

    def receive(self, stream, max_bytes):
        """Copy a readable binary ``stream`` into ``incoming/``, hashing it; fsync'ed.

        Raises :class:`TooLarge` past ``max_bytes`` (nothing is kept).
        """
        digest = hashlib.sha256()
        size = 0
        fd, name = tempfile.mkstemp(dir=self.incoming, prefix="upload-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK_BYTES):
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"the upload is larger than this server accepts "
                                             f"({max_bytes / 1e6:.0f} MB)")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            os.unlink(name)
            raise
        return Received(path=Path(name), sha256=digest.hexdigest(), size_bytes=size)

    def frame_path(self, sha256):
        return self.frames / f"{sha256}.fits"

    def keep(self, received):
        """Move a received upload to ``frames/<sha256>.fits`` durably; return that path.

        The same content stored before is kept as it is (same checksum, same bytes).
        """
        target = self.frame_path(received.sha256)
        if target.exists():
            self.discard(received)
            return target
        os.chmod(received.path, 0o444)
        os.replace(received.path, target)
        fsync_directory(self.frames)
        return target

    @staticmethod
    def discard(received):
        try:
            received.path.unlink()
        except FileNotFoundError:
            pass

    def frame_results(self, job_id):
        """The job's products: ``results/<job id>/`` (``ccdphot run`` layout)."""
        return self.results / job_id

    def remove_job(self, job_id):
        shutil.rmtree(self.frame_results(job_id), ignore_errors=True)

    def clear_incoming(self):
        """Remove uploads left half-received by a crash (never acknowledged)."""
        for leftover in self.incoming.glob("upload-*.part"):
            log.info("removing an upload left unfinished: %s", leftover.name)
            leftover.unlink(missing_ok=True)
