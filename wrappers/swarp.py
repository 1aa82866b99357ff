"""SWarp: resample frames onto one pixel grid and combine them.

*Build* writes the configuration (``default_params/swarp/ccdphot.swarp`` plus
overrides), the output grid as a header file (``stack.head``: WCS and size of
the reference frame) and, per input, a ``.head`` file SWarp reads beside it
(the flux scale ``FLXSCALE`` and, for frames aligned by star patterns, their
WCS). *Run* calls ``SWarp`` with relative file names. *Parse* reads the
combined image and its weight map into an :class:`ImageResult`.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
from astropy.io import fits
from ccdphot.wrappers.base import ToolJob, ToolResult, param_file, render_astromatic_config

from ccdphot.astrometry.wcsfit import replace_wcs
from ccdphot.errors import OutputParseError

log = logging.getLogger(__name__)

TOOL = "swarp"
CONFIG_NAME = "ccdphot.swarp"
OUTPUT_NAME = "stack.fits"
WEIGHT_NAME = "stack.weight.fits"
GRID_NAME = "stack.head"
# ccdphot's combination names -> SWarp COMBINE_TYPE
COMBINE_TYPES = {"median": "MEDIAN", "mean": "AVERAGE", "sigclip": "CLIPPED"}


def _wcs_cards(wcs):
    """The WCS as header cards in the CD-matrix form SWarp reads (no time keywords)."""
    header = replace_wcs(fits.Header(), wcs.celestial, cd_matrix=True)
    for key in ("MJDREF", "DATE-OBS", "MJD-OBS"):
        header.remove(key, ignore_missing=True)
    return header


def _write_head(path, header):
    """A SWarp ``.head`` file: header cards, one per line, then END."""
    cards = [card.image for card in header.cards] + ["END".ljust(80)]
    Path(path).write_text("\n".join(cards) + "\n")


@dataclass(frozen=True)
class ImageResult(ToolResult):
    """A combined image: pixels, weight map (relative inverse variance, 0 = no data)
    and the header the tool wrote."""

    data: np.ndarray
    weight: np.ndarray
    header: fits.Header


@dataclass(frozen=True, kw_only=True)
class Job(ToolJob):
    """SWarp on ``images`` (plain file names in the work directory) onto the grid
    ``grid_wcs`` of ``shape`` (ny, nx), combined by ``method`` (median, mean,
    sigclip). ``scales`` are the flux factors of the images (default 1),
    ``input_wcs`` a WCS per image replacing its header's (None: keep it),
    ``settings`` free-form SWarp keys applied last."""

    images: tuple
    grid_wcs: Any
    shape: tuple
    method: str
    scales: Optional[tuple] = None
    input_wcs: Optional[tuple] = None
    settings: Mapping = field(default_factory=dict)
    outputs = (OUTPUT_NAME, WEIGHT_NAME)

    def build(self):
        grid = _wcs_cards(self.grid_wcs)
        grid["NAXIS"] = 2
        grid["NAXIS1"], grid["NAXIS2"] = int(self.shape[1]), int(self.shape[0])
        _write_head(self.path(GRID_NAME), grid)
        scales = self.scales if self.scales is not None else [1.0] * len(self.images)
        input_wcs = self.input_wcs if self.input_wcs is not None else [None] * len(self.images)
        for name, scale, wcs in zip(self.images, scales, input_wcs):
            head = _wcs_cards(wcs) if wcs is not None else fits.Header()
            head["FLXSCALE"] = (float(scale), "flux scale applied by SWarp (ccdphot)")
            _write_head(self.path(Path(name).stem + ".head"), head)
        overrides = {"IMAGEOUT_NAME": OUTPUT_NAME, "WEIGHTOUT_NAME": WEIGHT_NAME,
                     "HEADEROUT_NAME": GRID_NAME, "COMBINE_TYPE": COMBINE_TYPES[self.method],
                     **dict(self.settings)}
        render_astromatic_config(param_file(TOOL, CONFIG_NAME), overrides,
                                 self.path(CONFIG_NAME))
        return [*self.images, "-c", CONFIG_NAME]

    def parse(self, run):
        data, weight, header = read_stack(self.work_dir)
        return ImageResult(figures={"n_images": len(self.images), "seconds": round(run.seconds, 2)},
                           run=run, data=data, weight=weight, header=header)


def read_stack(work_dir):
    """(image, weight map, SWarp's header) from what SWarp wrote (pure parsing).

    The weight map is SWarp's: relative inverse variance of each output
    pixel, 0 where no input frame contributes.
    """
    work_dir = Path(work_dir)
    try:
        with fits.open(work_dir / OUTPUT_NAME) as hdul:
            data = np.asarray(hdul[0].data, dtype=np.float32)
            header = hdul[0].header.copy()
        weight = np.asarray(fits.getdata(work_dir / WEIGHT_NAME), dtype=np.float32)
    except (OSError, IndexError, TypeError) as err:
        raise OutputParseError(f"{work_dir.name}/{OUTPUT_NAME}: cannot read the stack SWarp "
                               f"wrote ({err})") from err
    if data.ndim != 2 or weight.shape != data.shape:
        raise OutputParseError(f"{OUTPUT_NAME}: SWarp wrote an image of shape {data.shape} "
                               f"and a weight map of shape {weight.shape}")
    return data, weight, header
