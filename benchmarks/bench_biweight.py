"""ccdphot's biweight detrending against wotan's: agreement on real light curves, speed.

ccdphot.series.biweight replaced wotan (whose numba and llvmlite kept the Docker
image above 1 GB). This compares the two with the same flux transform as
``ccdphot lightcurve --detrend biweight`` (ccdphot.series.detrend.detrend_biweight):

1. agreement, on the real light curves of ../shared/data/vartools/lc (10 of 31
   days, ~3000-4000 points each, and the RR Lyrae M3.V006) and on a HAT-P-32
   ``target_lc.ecsv`` given with ``--hatp32`` (``ccdphot lightcurve`` output): the
   largest trend difference in mmag beside the curve's point-to-point noise
   (1.4826 MAD of the successive differences / sqrt 2);
2. time of the first call in a fresh process (wotan compiles its numba code there:
   a fresh NUMBA_CACHE_DIR, as in a container whose install is read-only), and of
   warm calls on series of growing length (2-minute cadence), side by side.

Needs wotan, which is no longer a dependency: ``.venv/bin/pip install wotan``.

    .venv/bin/python benchmarks/bench_biweight.py [--hatp32 lc/target_lc.ecsv]
                                                  [--window-days 0.5] [--sizes 1000,10000,50000]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.table import Table

from ccdphot.series.detrend import detrend_biweight

ROOT = Path(__file__).resolve().parent.parent
VARTOOLS_LC = ROOT.parent / "shared" / "data" / "vartools" / "lc"
CURVES = [str(n) for n in range(1, 11)] + ["M3.V006.lc"]

FIRST_CALL = """
import sys, time
import numpy as np
start = time.perf_counter()
{import_line}
t = np.sort(np.random.default_rng(1).uniform(0, 5, 500)); m = 0.01 * np.sin(t)
{call_line}
print(time.perf_counter() - start)
"""


def wotan_trend(time_d, dmag, window_days):
    """wotan's trend in magnitudes, with detrend_biweight's flux transform."""
    from wotan import flatten

    level = np.nanmedian(dmag)
    flux = 10 ** (-0.4 * (dmag - level))
    _, trend = flatten(time_d, flux, method="biweight", window_length=window_days,
                       return_trend=True)
    return level - 2.5 * np.log10(trend)


def point_noise(time_d, dmag):
    diffs = np.diff(dmag[np.argsort(time_d)])
    return 1.4826 * np.median(np.abs(diffs - np.median(diffs))) / np.sqrt(2)


def curves(hatp32):
    for name in CURVES:
        path = VARTOOLS_LC / name
        if path.is_file():
            data = np.loadtxt(path, usecols=(0, 1))
            yield f"vartools {name}", data[:, 0], data[:, 1]
    if hatp32:
        table = Table.read(hatp32)
        good = np.isfinite(table["DMAG"]) & np.isfinite(table["BJD_TDB"])
        yield "HAT-P-32 (36 frames)", np.asarray(table["BJD_TDB"])[good], \
            np.asarray(table["DMAG"])[good]


def agreement(hatp32, windows):
    print("| light curve | points | window (d) | noise (mmag) | max |ccdphot - wotan| (mmag) |")
    print("|---|---|---|---|---|")
    worst = 0.0
    for label, time_d, dmag in curves(hatp32):
        for window in windows:
            ours = detrend_biweight(time_d, dmag, window).trend
            theirs = wotan_trend(time_d, dmag, window)
            diff = float(np.nanmax(np.abs(ours - theirs))) * 1e3
            worst = max(worst, diff / (point_noise(time_d, dmag) * 1e3))
            print(f"| {label} | {len(time_d)} | {window:g} | "
                  f"{point_noise(time_d, dmag) * 1e3:.2f} | {diff:.2e} |")
    print(f"\nlargest difference / point noise: {worst:.1e}\n")


def first_call(window):
    lines = {
        "ccdphot": ("from ccdphot.series.detrend import detrend_biweight",
                    f"detrend_biweight(t, m, {window})"),
        "wotan": ("from wotan import flatten",
                  f"flatten(t, 1 + m, method='biweight', window_length={window})"),
    }
    print("| first call in a fresh process (import + 500 points) | s |\n|---|---|")
    for name, (import_line, call_line) in lines.items():
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            code = FIRST_CALL.format(import_line=import_line, call_line=call_line)
            for label in ("", " (again, cache kept)"):
                out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                     capture_output=True, text=True).stdout
                print(f"| {name}{label} | {float(out):.2f} |")
    print()


def speed(sizes, window):
    print("| points (2-min cadence) | ccdphot (s) | wotan, compiled (s) | ratio |\n|---|---|---|---|")
    rng = np.random.default_rng(7)
    for n in sizes:
        time_d = np.arange(n) * (2 / 1440)
        dmag = 0.01 * np.sin(time_d) + rng.normal(0, 0.005, n)
        wotan_trend(time_d[:50], dmag[:50], window)  # compile outside the timing
        times = []
        for function in (lambda: detrend_biweight(time_d, dmag, window),
                         lambda: wotan_trend(time_d, dmag, window)):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        print(f"| {n} | {times[0]:.3f} | {times[1]:.3f} | {times[0] / times[1]:.1f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hatp32", type=Path, help="a target_lc.ecsv of HAT-P-32")
    parser.add_argument("--window-days", type=float, default=0.5)
    parser.add_argument("--sizes", default="1000,10000,50000")
    args = parser.parse_args()
    agreement(args.hatp32, sorted({args.window_days, 0.1}))
    first_call(args.window_days)
    speed([int(n) for n in args.sizes.split(",")], args.window_days)


if __name__ == "__main__":
    main()
