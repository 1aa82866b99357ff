"""Input frames of a stack: read, standardise and check that they can be combined.

Every frame is read like ``ccdphot run`` reads it (:func:`ccdphot.fitsio.read_frame`)
and its header standardised with the telescope profile, so EXPTIME, DATE-OBS,
GAIN, RDNOISE, SATURATE and FILTER mean the same for every camera. Frames that
cannot be combined are refused with one line naming the file: fewer than two
frames, a frame given twice, no exposure time, different filters or binnings.
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS

from ccdphot.errors import InputError
from ccdphot.fitsio import celestial_wcs, read_frame, working_header
from ccdphot.header.profiles import frame_profile
from ccdphot.header.standard import StandardHeader, apply_standard, standardise

log = logging.getLogger(__name__)


@dataclass
class StackFrame:
    """One input: its pixels (float32), standardised header, standard values, WCS."""

    path: Path
    data: np.ndarray
    header: fits.Header
    std: StandardHeader
    wcs: Optional[WCS]

    @property
    def name(self):
        return self.path.name

    def start(self):
        """Start of the exposure (UTC Time), or None without DATE-OBS."""
        value = self.std.get("DATE-OBS")
        return Time(value, format="isot", scale="utc") if value else None


def read_frames(paths, profile_choice="", header_values=None):
    """Read and standardise the frames to stack; raise InputError when they cannot be."""
    paths = [Path(p) for p in paths]
    if len(paths) < 2:
        given = f" ({paths[0]})" if paths else ""
        raise InputError(f"a stack needs at least two frames, got {len(paths)}{given}; "
                         "give every frame of the field to combine")
    seen = {}
    for path in paths:
        key = path.resolve()
        if key in seen:
            raise InputError(f"{path}: given twice (also as {seen[key]}); give each frame once")
        seen[key] = path
    frames = [_read(path, profile_choice, header_values) for path in paths]
    _check_same(frames, "FILTER", "filter")
    _check_same(frames, "XBINNING", "binning")
    _check_same(frames, "YBINNING", "binning")
    return frames


def _read(path, profile_choice, header_values):
    data, header, _ = read_frame(path)
    header = working_header(header, data)
    std = standardise(header, frame_profile(header, profile_choice), header_values,
                      file_name=path.name)
    if std.get("EXPTIME") is None:
        raise InputError(f"{path.name}: no exposure time (EXPTIME) for the stack's exposure "
                         "keywords and flux scaling; fix the header or give --set EXPTIME=SECONDS")
    if std.get("EXPTIME") <= 0:
        raise InputError(f"{path.name}: EXPTIME={std.get('EXPTIME')} s; a stack combines "
                         "exposures of positive length")
    return StackFrame(path=path, data=data, header=apply_standard(header, std), std=std,
                      wcs=celestial_wcs(header))


def _check_same(frames, key, what):
    values = {frame.std.get(key) for frame in frames}
    if len(values) > 1:
        listed = ", ".join(f"{frame.name}: {frame.std.get(key)}" for frame in frames)
        raise InputError(f"frames of different {what} ({listed}); stack frames of one "
                         f"{what} only")
