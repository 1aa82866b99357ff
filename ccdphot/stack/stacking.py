"""``ccdphot stack``: combine frames of one field into one deeper frame.

The frames are read and standardised (:mod:`ccdphot.stack.frames`), put on
the first frame's pixel grid by WCS or by star patterns
(:mod:`ccdphot.stack.alignment`), scaled to a common exposure time and
combined by SWarp or by reproject + ccdproc (:mod:`ccdphot.stack.engines`).
The stack keeps the first frame's header, pixel grid and WCS, with the
keywords of the combination (:mod:`ccdphot.stack.keywords`), so it goes
straight into ``ccdphot run``. Written atomically: the stack and, beside it,
its weight map (``<name>.weight.fits``). Inputs are never modified.
"""

import logging
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

from ccdphot.astrometry.wcsfit import replace_wcs, strip_wcs
from ccdphot.errors import OutputError
from ccdphot.fitsio import frame_stem
from ccdphot.products import write_fits_atomic
from ccdphot.stack import alignment, engines
from ccdphot.stack.frames import read_frames
from ccdphot.stack.keywords import stack_header, variance_factor
from ccdphot.stack.quality import background_noise_adu
from ccdphot.tools import ToolRegistry

log = logging.getLogger(__name__)

WEIGHT_SUFFIX = ".weight.fits"


@dataclass
class StackResult:
    """Where the stack and its weight map were written, its header and figures."""

    path: Path
    weight_path: Path
    header: fits.Header
    figures: dict = field(default_factory=dict)


def weight_path_for(path):
    """``stack.fits`` -> ``stack.weight.fits`` (the SWarp naming)."""
    path = Path(path)
    return path.with_name(frame_stem(path) + WEIGHT_SUFFIX)


def _check_output(out, frames):
    out = Path(out)
    targets = {out.resolve(), weight_path_for(out).resolve()}
    for frame in frames:
        if frame.path.resolve() in targets:
            raise OutputError(f"{out}: would overwrite the input frame {frame.path}; choose "
                              "another --out")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create {out.parent} ({err.strerror or err}); choose a "
                          "writable --out") from err
    return out


def _write_copies(frames, work_dir, wcs_list):
    """Plain float32 working copies (frame_001.fits...) for the tools; their names.

    Each gets its WCS of ``wcs_list`` in the CD form SWarp reads, or none.
    """
    names = []
    for i, (frame, wcs) in enumerate(zip(frames, wcs_list), start=1):
        name = f"frame_{i:03d}.fits"
        header = replace_wcs(frame.header, wcs, cd_matrix=True) if wcs is not None else \
            strip_wcs(frame.header)
        write_fits_atomic(work_dir / name, frame.data, header)
        names.append(name)
    return names


def stack_frames(paths, out, config, method=None, engine=None, align=None, profile="",
                 header_values=None, tools=None):
    """Stack the frames at ``paths`` into the FITS file ``out``; return a :class:`StackResult`.

    ``config`` is the effective ccdphot config (its ``[stack]`` table gives the
    defaults of ``method``, ``engine`` and ``align``); ``profile`` and
    ``header_values`` standardise the input headers as ``ccdphot run`` does.
    """
    settings = config["stack"]
    method = method or settings["method"]
    engine = engine or settings["engine"]
    engines.check_choice(engine, method)
    started = time.perf_counter()
    frames = read_frames(paths, profile or config["header"]["profile"], header_values)
    out = _check_output(out, frames)
    mode = alignment.alignment_mode(frames, align or settings["align"])
    reference = frames[0]
    tools = tools or ToolRegistry(config)
    scales = [float(np.mean([f.std.get("EXPTIME") for f in frames])) / f.std.get("EXPTIME")
              for f in frames]
    figures = {"n_frames": len(frames), "method": method, "engine": engine, "align": mode}
    with tempfile.TemporaryDirectory(prefix=".stack-", dir=out.parent) as scratch:
        work_dir = Path(scratch)
        if mode == "wcs":
            alignment.check_one_field(frames, reference, settings["min_overlap"])
            grid, wcs_list = reference.wcs, [frame.wcs for frame in frames]
            names = _write_copies(frames, work_dir, wcs_list) if engine == "swarp" else None
        else:
            names = _write_copies(frames, work_dir, [None] * len(frames))
            grid, wcs_list, records = alignment.align_by_stars(
                frames, names, work_dir, tools.use("sextractor"), config["detect"],
                settings["align_radius_pix"], settings["align_thresh_sigma"])
            figures["alignments"] = records
        if engine == "swarp":
            if mode == "wcs":
                engines.check_swarp_wcs(frames)
            tool = tools.use("swarp")
            data, weight = engines.combine_swarp(
                tool, work_dir, names, None if mode == "wcs" else wcs_list, grid,
                reference.data.shape, method, scales, settings["clip_sigma"],
                settings["swarp"])
            engine_label = f"SWarp {tool.version}"
        else:
            data, weight = engines.combine_reproject(
                [frame.data for frame in frames], wcs_list, grid, reference.data.shape,
                method, scales, settings["clip_sigma"], settings["reproject_order"])
            engine_label = "reproject+ccdproc"
    base = strip_wcs(reference.header)
    if reference.wcs is not None:
        base = replace_wcs(base, reference.wcs)
    header = stack_header(
        base, [frame.name for frame in frames], method, scales,
        [f.std.get("EXPTIME") for f in frames], engine_label,
        "WCS" if mode == "wcs" else "star patterns",
        starts=[frame.start() for frame in frames],
        gains=[f.std.get("GAIN") for f in frames], rdnoises=[f.std.get("RDNOISE") for f in frames],
        saturates=[f.std.get("SATURATE") for f in frames],
        airmasses=[f.std.get("AIRMASS") for f in frames])
    write_fits_atomic(out, data, header)
    weight_header = fits.Header([("BUNIT", "", "relative inverse variance; 0 = no data")])
    weight_out = weight_path_for(out)
    write_fits_atomic(weight_out, weight, replace_wcs(weight_header, reference.wcs)
                      if reference.wcs is not None else weight_header)
    covered = weight > 0
    effective = len(frames) / variance_factor(method, len(frames))
    figures.update(
        exptime_s=header["EXPTIME"], total_exptime_s=header["TEXPTIME"],
        effective_frames=round(effective, 3), covered_fraction=round(float(covered.mean()), 4),
        noise_ratio=round(background_noise_adu(data, covered)
                          / background_noise_adu(reference.data), 4),
        noise_ratio_expected=round(1.0 / math.sqrt(effective), 4),
        seconds=round(time.perf_counter() - started, 2))
    log.info("stack of %d frames (%s, %s, aligned by %s) -> %s in %.2f s", len(frames), method,
             engine_label, mode, out, figures["seconds"])
    return StackResult(out, weight_out, header, figures)
