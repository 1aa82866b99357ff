"""Stacking the five SkyCamZ frames: noise, star positions, depth and time per engine.

For each engine (SWarp, reproject + ccdproc) and method (mean, median), stacks
``../shared/data/skycamz`` (or the frames given) on the first frame's grid,
runs the header and detect steps on the stack and on the first frame, and
prints side by side:

* the background noise of the stack over that of the first frame (per pixel,
  sources masked; 1/sqrt(N_eff) expected, N_eff = N for a mean, 2N/pi for a
  median; resampling smooths the noise a little, so a few per cent less);
* the median (dx, dy) and median distance of well-measured stars (error <
  0.02 mag) of the stack from the same stars in the first frame;
* the gain in limiting magnitude (S/N 5 from the MAG_AUTO errors) against
  1.25 log10(N_eff);
* the stacking time.

``--stars`` aligns by star patterns instead of WCS (the frames' WCS removed).
Figures are printed, never asserted.

    .venv/bin/python benchmarks/stack_skycamz.py [--stars] [FRAME ...]
"""

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

from ccdphot.astrometry.wcsfit import strip_wcs
from ccdphot.config import load_config
from ccdphot.frame.pipeline import run_frame
from ccdphot.stack.quality import limiting_magnitude, position_offsets
from ccdphot.stack.stacking import stack_frames

SKYCAMZ = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "skycamz"


def _without_wcs(frames, directory):
    copies = []
    for path in frames:
        with fits.open(path) as hdul:
            copy = Path(directory) / path.name
            fits.PrimaryHDU(hdul[0].data, strip_wcs(hdul[0].header)).writeto(copy)
            copies.append(copy)
    return copies


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("frames", nargs="*", type=Path)
    parser.add_argument("--stars", action="store_true", help="align by star patterns")
    args = parser.parse_args()
    frames = args.frames or sorted(SKYCAMZ.glob("*.fits"))
    if len(frames) < 2:
        sys.exit(f"give at least two frames (none in {SKYCAMZ})")
    config = load_config(data={"plots": {"qc": False}})
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inputs = _without_wcs(frames, tmp) if args.stars else frames
        single = run_frame(frames[0], config, steps=["header", "detect"], out=tmp / "R").table
        depth_single = limiting_magnitude(single)
        print(f"{len(frames)} frames, aligned by {'stars' if args.stars else 'WCS'}; first "
              f"frame: {len(single)} detections, limiting magnitude (S/N 5) {depth_single:.3f}")
        print(f"{'engine':10s} {'method':7s} {'noise':>6s} {'1/√Neff':>7s} {'n':>4s} "
              f"{'dx_pix':>7s} {'dy_pix':>7s} {'|d|_pix':>7s} {'depth':>6s} {'1.25lgN':>7s} "
              f"{'sec':>6s}")
        for engine in ("swarp", "reproject"):
            for method in ("mean", "median"):
                start = time.perf_counter()
                result = stack_frames(inputs, tmp / f"{engine}_{method}.fits", config,
                                      method=method, engine=engine)
                seconds = time.perf_counter() - start
                stacked = run_frame(result.path, config, steps=["header", "detect"],
                                    out=tmp / "R").table
                offsets = position_offsets(stacked, single)
                median = np.median(offsets, axis=0)
                figures = result.figures
                print(f"{engine:10s} {method:7s} {figures['noise_ratio']:6.3f} "
                      f"{figures['noise_ratio_expected']:7.3f} {len(offsets):4d} "
                      f"{median[0]:+7.3f} {median[1]:+7.3f} "
                      f"{np.median(np.hypot(*offsets.T)):7.3f} "
                      f"{limiting_magnitude(stacked) - depth_single:6.3f} "
                      f"{1.25 * math.log10(figures['effective_frames']):7.3f} {seconds:6.2f}")


if __name__ == "__main__":
    main()
