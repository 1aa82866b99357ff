"""SWarp: resample frames onto one pixel grid and combine them.

*Build* writes the configuration (``default_params/swarp/ccdphot.swarp`` plus
overrides), the output grid as a header file (``stack.head``: WCS and size of
the reference frame) and, per input, a ``.head`` file SWarp reads beside it
(the flux scale ``FLXSCALE`` and, for frames aligned by star patterns, their
WCS). *Run* calls ``SWarp`` with relative file names. *Parse* reads the
combined image and its weight map.
"""

import logging
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import FITSFixedWarning
from ccdphot.wrappers.base import param_file, render_astromatic_config, run_tool

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
    """The WCS as header cards in the CD-matrix form SWarp reads."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        header = wcs.celestial.to_header(relax=True)
    for key in ("PC1_1", "PC1_2", "PC2_1", "PC2_2", "CDELT1", "CDELT2", "MJDREF",
                "DATE-OBS", "MJD-OBS"):
        header.remove(key, ignore_missing=True)
    for (i, j), value in np.ndenumerate(wcs.celestial.pixel_scale_matrix):
        header[f"CD{i + 1}_{j + 1}"] = float(value)
    return header


def _write_head(path, header):
    """A SWarp ``.head`` file: header cards, one per line, then END."""
    cards = [card.image for card in header.cards] + ["END".ljust(80)]
    Path(path).write_text("\n".join(cards) + "\n")


def build(work_dir, images, grid_wcs, shape, method, scales=None, input_wcs=None,
          settings=None):
    """Write SWarp's inputs into ``work_dir``; return the argument list.

    ``images`` are plain file names in ``work_dir``; ``grid_wcs`` and ``shape``
    (ny, nx) the output grid; ``scales`` the flux factor of each image
    (default 1); ``input_wcs`` a WCS per image that replaces its header WCS
    (None where the header's own is right); ``settings`` free-form overrides.
    """
    work_dir = Path(work_dir)
    for name in (OUTPUT_NAME, WEIGHT_NAME):
        (work_dir / name).unlink(missing_ok=True)
    grid = _wcs_cards(grid_wcs)
    grid["NAXIS"] = 2
    grid["NAXIS1"], grid["NAXIS2"] = int(shape[1]), int(shape[0])
    _write_head(work_dir / GRID_NAME, grid)
    scales = scales if scales is not None else [1.0] * len(images)
    input_wcs = input_wcs if input_wcs is not None else [None] * len(images)
    for name, scale, wcs in zip(images, scales, input_wcs):
        head = _wcs_cards(wcs) if wcs is not None else fits.Header()
        head["FLXSCALE"] = (float(scale), "flux scale applied by SWarp (ccdphot)")
        _write_head(work_dir / (Path(name).stem + ".head"), head)
    overrides = {"IMAGEOUT_NAME": OUTPUT_NAME, "WEIGHTOUT_NAME": WEIGHT_NAME,
                 "HEADEROUT_NAME": GRID_NAME, "COMBINE_TYPE": COMBINE_TYPES[method]}
    overrides.update(settings or {})
    render_astromatic_config(param_file(TOOL, CONFIG_NAME), overrides, work_dir / CONFIG_NAME)
    return [*images, "-c", CONFIG_NAME]


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


def run(tool, work_dir, images, grid_wcs, shape, method, **build_args):
    """Run SWarp on ``images`` (plain names in ``work_dir``); return (image, weight, header)."""
    args = build(work_dir, images, grid_wcs, shape, method, **build_args)
    run_tool(tool, args, cwd=work_dir, expect=[OUTPUT_NAME, WEIGHT_NAME])
    return read_stack(work_dir)
