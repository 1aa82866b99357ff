"""The frames of a batch: FRAMES and DIRs expanded, each with its own results folder.

A directory contributes its FITS files by suffix (``.fits``, ``.fit``, ``.fts``,
optionally ``.fz``/``.gz``, any case), not its subdirectories; its other files
are skipped and reported. A file named explicitly is always taken: if it is not
FITS, that frame fails with the reason and the others go on.

Results folder names: a frame gets ``<stem>`` (its file name without the FITS
suffixes, as ``ccdphot run`` does) unless another frame of the batch has the same
stem or ``<stem>/`` already holds the results of another input; then it gets
``<stem>-<h>``, ``h`` being the first 8 hex digits of the SHA-256 of its
absolute path (so ``a/x.fits`` and ``b/x.fits`` get ``x-<h1>`` and ``x-<h2>``). A folder that already holds the results of the same
input is reused (so a rerun resumes it). Results are never overwritten by
another input's.
"""

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ccdphot.errors import InputError
from ccdphot.fitsio import frame_stem
from ccdphot.products import RUN_JSON

log = logging.getLogger(__name__)

FITS_SUFFIXES = (".fits", ".fit", ".fts")
COMPRESSION_SUFFIXES = ("", ".fz", ".gz")


@dataclass(frozen=True)
class FrameJob:
    """One frame of a batch: its input file and the name of its results folder."""

    input: str  # absolute path
    name: str

    def out_dir(self, out_root):
        return Path(out_root) / self.name


def is_fits_name(path):
    """True for a FITS file name (``x.fits``, ``x.FIT``, ``x.fits.fz``, ...)."""
    name = Path(path).name.lower()
    return any(name.endswith(fits + packed) for fits in FITS_SUFFIXES
               for packed in COMPRESSION_SUFFIXES)


def collect_frames(paths):
    """(frames, skipped): the input files of FRAMES/DIRs, absolute, without repeats.

    ``skipped`` lists the non-FITS files of the directories given. Raises
    InputError for a path that does not exist or when no frame is left.
    """
    frames, skipped, seen = [], [], set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            entries = sorted(p for p in path.iterdir()
                             if p.is_file() and not p.name.startswith("."))
            skipped += [p for p in entries if not is_fits_name(p)]
            chosen = [p for p in entries if is_fits_name(p)]
        elif path.exists():
            chosen = [path]
        else:
            raise InputError(f"{path}: no such file or directory; give FITS frames or "
                             "directories holding them")
        for frame in chosen:
            frame = frame.resolve()
            if frame not in seen:
                seen.add(frame)
                frames.append(frame)
    for path in skipped:
        log.warning("skipped %s: not a FITS file name (.fits, .fit, .fts, .fz, .gz)", path)
    if not frames:
        raise InputError(f"no FITS frames in {', '.join(map(str, paths))}"
                         + (f" ({len(skipped)} other files skipped)" if skipped else "")
                         + "; give .fits/.fit/.fts files or directories holding them")
    return frames, skipped


def _path_tag(frame):
    return hashlib.sha256(str(frame).encode()).hexdigest()[:8]


def _holder(folder):
    """The input whose results ``folder`` holds (from its run.json), or None."""
    try:
        return json.loads((folder / RUN_JSON).read_text()).get("input")
    except (OSError, ValueError, AttributeError):
        return None


def name_jobs(frames, out_root):
    """A :class:`FrameJob` per frame, with results folder names as the module says."""
    out_root = Path(out_root)
    stems = [frame_stem(frame) for frame in frames]
    count = Counter(stems)
    jobs = []
    for frame, stem in zip(frames, stems):
        tagged = f"{stem}-{_path_tag(frame)}"
        plain_holder = _holder(out_root / stem)
        if plain_holder == str(frame):
            name = stem
        elif _holder(out_root / tagged) == str(frame):
            name = tagged
        elif count[stem] == 1 and plain_holder is None:
            name = stem
        else:
            name = tagged
        jobs.append(FrameJob(input=str(frame), name=name))
    return jobs
