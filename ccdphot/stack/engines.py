"""The two stacking engines: SWarp (through its wrapper) and reproject + ccdproc.

Both resample every frame onto one grid (the reference frame's), scale each by
its flux factor and combine them pixel by pixel with the same method; both
return (image, weight map) as float32 arrays, 0 where no frame contributes.
SWarp resamples with a Lanczos-3 kernel and writes its own weight map
(relative inverse variance); the pure-Python engine resamples with
``reproject_interp`` (bicubic by default) and its weight map is the number of
frames that contributed to each pixel.
"""

import logging

import numpy as np
from astropy.nddata import CCDData
from astropy.stats import mad_std

from ccdphot.errors import InputError
from ccdphot.wrappers import swarp

log = logging.getLogger(__name__)

ENGINES = ("swarp", "reproject")
METHODS = ("median", "mean", "sigclip")


def check_choice(engine, method):
    if engine not in ENGINES:
        raise InputError(f"stacking engine {engine!r}: use one of {', '.join(ENGINES)}")
    if method not in METHODS:
        raise InputError(f"combination method {method!r}: use one of {', '.join(METHODS)}")


def _combined(ccds, method, clip_sigma):
    """(image, number of frames used per pixel) of a ccdproc Combiner."""
    from ccdproc import Combiner  # slow to import: only this engine needs it

    combiner = Combiner(ccds, dtype=np.float32)
    if method == "median":
        result = combiner.median_combine()
    else:
        if method == "sigclip":
            combiner.sigma_clipping(low_thresh=clip_sigma, high_thresh=clip_sigma,
                                    func=np.ma.median, dev_func=mad_std)
        result = combiner.average_combine()
    used = np.sum(~np.ma.getmaskarray(combiner.data_arr), axis=0).astype(np.float32)
    data = np.where(used > 0, np.nan_to_num(np.asarray(result.data, np.float32)), 0.0)
    return data.astype(np.float32), used


def combine_reproject(images, wcs_list, grid_wcs, shape, method, scales, clip_sigma=3.0,
                      order="bicubic"):
    """Resample ``images`` (arrays with their ``wcs_list``) onto the grid and combine them."""
    from reproject import reproject_interp  # slow to import: only this engine needs it

    ccds = []
    for image, wcs, scale in zip(images, wcs_list, scales):
        resampled, footprint = reproject_interp((image, wcs), grid_wcs, shape_out=shape,
                                                order=order, roundtrip_coords=False)
        bad = (footprint <= 0) | ~np.isfinite(resampled)
        ccds.append(CCDData(np.where(bad, 0.0, resampled * scale).astype(np.float32),
                            mask=bad, unit="adu"))
    return _combined(ccds, method, clip_sigma)


def check_swarp_wcs(frames):
    """SWarp reads TAN and TPV distortion, not SIP: refuse frames whose WCS has SIP."""
    for frame in frames:
        if frame.wcs is not None and frame.wcs.sip is not None:
            raise InputError(f"{frame.name}: its WCS has SIP distortion terms, which SWarp "
                             "ignores (the stack would be blurred); use --engine reproject")


def combine_swarp(tool, work_dir, image_names, input_wcs, grid_wcs, shape, method, scales,
                  clip_sigma=3.0, settings=None):
    """Run SWarp on the working copies in ``work_dir``; return (image, weight map)."""
    result = swarp.Job(tool, work_dir, images=tuple(image_names), grid_wcs=grid_wcs,
                       shape=tuple(shape), method=method, scales=tuple(scales),
                       input_wcs=None if input_wcs is None else tuple(input_wcs),
                       settings={"CLIP_SIGMA": clip_sigma, **dict(settings or {})}).run()
    return np.where(result.weight > 0, result.data, 0.0).astype(np.float32), result.weight
