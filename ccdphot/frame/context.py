"""The run context of one frame: what the steps share while it is processed.

Created by the pipeline for each frame and handed to every step function. The
configuration and the per-run options (``--legacy``, ``--refcat``, ``--set``
values, ...) are frozen; steps add their results (working header, WCS,
detection list, unified table, QC figures) as the frame goes through.
``planned_steps`` names the steps this run will execute, so a step can tell
whether a later one needs something, and ``requested_steps`` those the user
asked for by name (empty when the configured sequence runs); ``details`` holds per-step records
(JSON-serialisable) that go into run.json under "details".
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Optional

from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales

from ccdphot.fitsio import header_float, header_value
from ccdphot.tools import ToolRegistry

log = logging.getLogger(__name__)

WORKING_IMAGE = "frame.fits"  # the working copy every tool reads, in work/


@dataclass
class FrameContext:
    """State of one frame through the pipeline."""

    input_path: Path
    stem: str
    out_dir: Path
    work_dir: Path
    config: Mapping
    tools: ToolRegistry
    options: Mapping = field(default_factory=lambda: MappingProxyType({}))
    header: Optional[fits.Header] = None
    shape: Optional[tuple] = None
    wcs: Optional[WCS] = None
    detections: Optional[Table] = None
    table: Optional[Table] = None
    qc: dict = field(default_factory=dict)
    planned_steps: tuple = ()
    requested_steps: tuple = ()
    details: dict = field(default_factory=dict)
    mask_name: Optional[str] = None  # bit mask in work_dir (0 good), from the calibrate step
    weight_name: Optional[str] = None  # SExtractor weight map in work_dir (0 = bad pixel)
    memo: dict = field(default_factory=dict)  # what step support reads once per frame

    @property
    def image_path(self) -> Path:
        """The working copy of the image (what every tool reads)."""
        return self.work_dir / WORKING_IMAGE

    @property
    def image_name(self) -> str:
        """File name of the working copy, relative to ``work_dir``."""
        return WORKING_IMAGE

    def header_value(self, key, default=None) -> Any:
        """A header value, blank strings stripped (:func:`ccdphot.fitsio.header_value`)."""
        return header_value(self.header, key, default)

    def header_float(self, key) -> Optional[float]:
        """A positive, finite numeric header value (:func:`ccdphot.fitsio.header_float`)."""
        return header_float(self.header, key)

    def pixel_scale_arcsec(self) -> Optional[float]:
        """Mean pixel scale in arcsec from the WCS, or None without a WCS."""
        if self.wcs is None:
            return None
        scales = proj_plane_pixel_scales(self.wcs.celestial) * 3600.0
        return float(scales.mean())
