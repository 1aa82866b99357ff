"""Speed of ``ccdphot lightcurve``: light curves of every star from many frames' products.

Synthetic products (ccdphot.series.synthetic: a drifting field without WCS,
so the pixel alignment runs, plus variables and a transit) are written once
per size, then timed: reading the products, aligning and matching, and the
whole build (ensemble, BIC detrending, indices of every star), and writing the
products without plots. Sizes side by side in one run show how the time grows
with frames and with stars. Each figure is wall-clock seconds with the CPU
seconds of this process in brackets (on a shared machine the CPU time is the
steadier figure).

    python benchmarks/bench_lightcurve.py                 # 250/500/1000 frames x 500 stars,
                                                          # 250 frames x 2000 stars
    python benchmarks/bench_lightcurve.py --sizes 1000x500 --keep bench_products
"""

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from ccdphot.series import LightCurveOptions, build_lightcurves, write_lightcurves
from ccdphot.series.align import match_by_pixels
from ccdphot.series.products import read_results
from ccdphot.series.synthetic import make_field, write_products


def _products(root, n_frames, n_stars):
    folder = Path(root) / f"{n_frames}x{n_stars}"
    if not folder.is_dir():
        rng = np.random.default_rng(n_frames + n_stars)
        time_bjd = 2460000.5 + np.arange(n_frames) * 0.002
        field = make_field(n_stars, rng, depth=0.01, t0=time_bjd[n_frames // 2],
                           duration_days=0.1)
        start = time.perf_counter()
        write_products(folder, field, time_bjd, rng, drift_pix=(0.2, 0.05))
        print(f"  wrote {n_frames} frames x {n_stars} stars in {time.perf_counter() - start:.1f} s")
        (folder / "target.txt").write_text(f"{field.x[0]} {field.y[0]}\n")
    x, y = (float(v) for v in (folder / "target.txt").read_text().split())
    return folder, (x, y)


def _timed(function, *args, **kwargs):
    start, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, (time.perf_counter() - start, time.process_time() - cpu)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250x500,500x500,1000x500,250x2000",
                        help="FRAMESxSTARS,... (default %(default)s)")
    parser.add_argument("--keep", metavar="DIR", help="keep the synthetic products here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    root = args.keep or tempfile.mkdtemp(prefix="bench_lightcurve_")
    rows = []
    for size in args.sizes.split(","):
        n_frames, n_stars = (int(v) for v in size.split("x"))
        folder, target = _products(root, n_frames, n_stars)
        (frames, _), t_read = _timed(read_results, [folder])
        _, t_align = _timed(match_by_pixels, frames, frames[0], 2.0)
        result, t_build = _timed(build_lightcurves, [folder], target, LightCurveOptions())
        out = Path(root) / f"lc_{size}"
        _, t_write = _timed(write_lightcurves, result, out, plots_wanted=False)
        rows.append((n_frames, n_stars, t_read, t_align, t_build, t_write,
                     result.groups[0].series.n_stars))
    print(f"{'frames':>6} {'stars':>6} {'read s (cpu)':>14} {'align s (cpu)':>14} "
          f"{'build s (cpu)':>14} {'write s (cpu)':>14} {'cpu us/(frame*star)':>20}")
    for n_frames, n_stars, *timings, n_matched in rows:
        cells = " ".join(f"{wall:6.2f} ({cpu:5.2f})" for wall, cpu in timings)
        per_cell = 1e6 * timings[2][1] / (n_frames * n_matched)
        print(f"{n_frames:6d} {n_stars:6d} {cells} {per_cell:20.2f}")
    print("build = read + align + ensemble + detrending + indices of every star (no plots);")
    print(f"products in {root}")


if __name__ == "__main__":
    main()
