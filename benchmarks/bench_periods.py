"""Period-search speed: native engine vs VARTOOLS vs astropy defaults, in one run.

Synthetic light curves with injected truth (seeded): sinusoids (P 0.2-8 d,
amplitude 0.05-0.3 mag) for LS and AoV, box transits (P 0.6-8 d, depth 0.01 mag,
duration 3 % of P) for BLS; ``--n-points`` points each over 30 d, 0.01 mag errors.
Each engine runs every method on the same light curves and the same grid:

* LS: 0.1-10 d, subsample 0.1 (VARTOOLS ``-LS``); astropy: ``LombScargle.autopower()``
  with its default grid;
* AoV: 20 phase bins, 0.1-10 d, subsample 0.1, finetune 0.01 (no astropy AoV);
* BLS: q 0.01-0.1, 0.5-10 d, 20 000 frequencies, 200 bins; astropy:
  ``BoxLeastSquares.autopower(0.05)`` (its default grid for one duration).

VARTOOLS runs once per method on the list of all light curves, through ccdphot's
wrapper (writing the files and parsing its output included). Reported: seconds,
ratios to VARTOOLS, and how many best periods agree with VARTOOLS's (1e-4 relative
or one grid step). One run, one core:

    .venv/bin/python benchmarks/bench_periods.py [--n-lc 1000] [--n-points 1000]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.table import Table
from astropy.timeseries import BoxLeastSquares, LombScargle

from ccdphot.config import load_config
from ccdphot.periods.engine import PeriodSearch, search
from ccdphot.tools import ToolRegistry

SPAN_D = 30.0
ERR_MAG = 0.01
SEARCHES = {
    "LS": PeriodSearch("ls", min_period=0.1, max_period=10.0, subsample=0.1),
    "AoV": PeriodSearch("aov", min_period=0.1, max_period=10.0, subsample=0.1, finetune=0.01,
                        nbin=20),
    "BLS": PeriodSearch("bls", min_period=0.5, max_period=10.0, q_min=0.01, q_max=0.1,
                        nfreq=20000, bls_bins=200),
}
PERIOD_COLUMN = {"LS": "LS_Period_1_0", "AoV": "Period_1_0", "BLS": "BLS_Period_1_0"}


def lightcurves(n_lc, n_points, transits, seed):
    """Dict name -> Table (t, mag, err) with injected sinusoids or transits."""
    rng = np.random.default_rng(seed)
    out = {}
    for index in range(n_lc):
        t = np.sort(rng.uniform(0.0, SPAN_D, n_points))
        noise = rng.normal(0.0, ERR_MAG, n_points)
        if transits:
            period, epoch = rng.uniform(0.6, 8.0), rng.uniform(0.0, 1.0)
            phase = np.mod(t / period - epoch, 1.0)
            mag = 12.0 + 0.01 * (phase < 0.03) + noise
        else:
            period = rng.uniform(0.2, 8.0)
            mag = 12.0 + rng.uniform(0.05, 0.3) * np.sin(2 * np.pi * t / period) + noise
        out[f"lc{index:04d}"] = Table({"t": t, "mag": mag, "err": np.full(n_points, ERR_MAG)})
    return out


def astropy_default(method, lcs):
    """Best periods of astropy's default LS / BLS searches (None for AoV)."""
    if method == "AoV":
        return None
    periods = []
    for lc in lcs.values():
        t, mag, err = (np.asarray(lc[c], dtype=float) for c in ("t", "mag", "err"))
        if method == "LS":
            frequency, power = LombScargle(t, mag, err).autopower()
            periods.append(1.0 / frequency[np.argmax(power)])
        else:
            result = BoxLeastSquares(t, -mag, err).autopower(0.05)
            periods.append(result.period[np.argmax(result.power)])
    return np.array(periods)


def agree(periods, reference, step):
    """Count of periods within 1e-4 relative or one frequency step (1/d) of the reference."""
    periods, reference = np.asarray(periods), np.asarray(reference)
    close = np.abs(periods - reference) <= 1e-4 * reference
    close |= np.abs(1.0 / periods - 1.0 / reference) <= step * 1.0001
    return int(close.sum())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-lc", type=int, default=1000)
    parser.add_argument("--n-points", type=int, default=1000)
    parser.add_argument("--methods", default="LS,AoV,BLS")
    args = parser.parse_args()
    tools = ToolRegistry(load_config())
    print(f"{args.n_lc} light curves x {args.n_points} points, {SPAN_D:g} d; one run")
    print(f"{'method':<6} {'native s':>9} {'VARTOOLS s':>11} {'astropy s':>10} "
          f"{'native/VT':>10} {'astropy/VT':>11} {'native=VT':>10} {'astropy=VT':>11}")
    for method in args.methods.split(","):
        spec = SEARCHES[method]
        lcs = lightcurves(args.n_lc, args.n_points, transits=method == "BLS", seed=12)
        timings, periods = {}, {}
        with tempfile.TemporaryDirectory() as scratch:
            for engine in ("vartools", "native"):
                start = time.perf_counter()
                result = search(lcs, spec, engine, tools=tools, work_dir=Path(scratch))
                timings[engine] = time.perf_counter() - start
                periods[engine] = np.asarray(result.table[PERIOD_COLUMN[method]], dtype=float)
        start = time.perf_counter()
        astropy_periods = astropy_default(method, lcs)
        timings["astropy"] = time.perf_counter() - start if astropy_periods is not None else None
        if method == "BLS":
            step = (1 / spec.min_period - 1 / spec.max_period) / (spec.nfreq - 1)
        else:
            step = spec.subsample / SPAN_D
        same = agree(periods["native"], periods["vartools"], step)
        vt_s = timings["vartools"]
        astropy_s = f"{timings['astropy']:10.2f}" if timings["astropy"] else f"{'-':>10}"
        astropy_ratio = (f"{timings['astropy'] / vt_s:11.2f}" if timings["astropy"]
                         else f"{'-':>11}")
        astropy_same = (f"{agree(astropy_periods, periods['vartools'], step):>11d}"
                        if astropy_periods is not None else f"{'-':>11}")
        print(f"{method:<6} {timings['native']:9.2f} {vt_s:11.2f} {astropy_s} "
              f"{timings['native'] / vt_s:10.2f} {astropy_ratio} {same:>10d} {astropy_same}")


if __name__ == "__main__":
    main()
