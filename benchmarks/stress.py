"""Stress: the same frame through ``detect,aperture,psf`` many times, alone and two at once.

Each run is a fresh ``ccdphot run`` process (so every run also starts PyRAF for
the IRAF version probe and for each IRAF job: the start-up is what used to fail
now and then, see ``ccdphot.wrappers.pyraf_worker``). First N runs one at a
time, then N runs two at a time (two processes in parallel). For each mode it
prints the failures (exit code and the run.json status), how often the PyRAF
worker had to restart after its known start-up race, and the spread of the
wall-clock time per run (min, median, 90th percentile, max). Nothing is
asserted.

    python benchmarks/stress.py [-n 30] [--frame FITS] [--modes sequential,parallel]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ccdphot.wrappers.pyraf_worker import RESTART_NOTE

HERE = Path(__file__).resolve().parent
FRAME = HERE.parent / "tests" / "data" / "ngc6871" / "NGC6871.fits"
STEPS = "detect,aperture,psf"
PARALLEL = 2


def one_run(frame, out):
    """(exit code, run.json status, seconds, PyRAF restarts) of one ccdphot process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "ccdphot", "run", "--steps", STEPS,
                           "--out", str(out), str(frame)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    frame_dir = out / Path(frame).stem
    record_path = frame_dir / "run.json"
    status = (json.loads(record_path.read_text())["status"] if record_path.is_file()
              else f"no run.json; stderr: {done.stderr.strip()[-300:]}")
    log_path = frame_dir / "ccdphot.log"
    restarts = log_path.read_text(errors="replace").count(RESTART_NOTE) if log_path.is_file() else 0
    return done.returncode, status, seconds, restarts


def stress(frame, n_runs, workers, scratch):
    """Run ``n_runs`` ccdphot processes, ``workers`` at a time; the per-run results."""
    outs = [scratch / f"run{i:03d}" for i in range(n_runs)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda out: one_run(frame, out), outs))


def report(mode, results, wall_s):
    seconds = np.array([r[2] for r in results])
    failed = [(i, r) for i, r in enumerate(results) if r[0] != 0 or not r[1].startswith("ok")]
    restarts = sum(r[3] for r in results)
    print(f"{mode}: {len(results)} runs, {len(failed)} failed, {restarts} PyRAF start-up "
          f"restart(s); total {wall_s:.1f} s")
    print(f"  seconds per run: min {seconds.min():.2f}  median {np.median(seconds):.2f}  "
          f"p90 {np.percentile(seconds, 90):.2f}  max {seconds.max():.2f}")
    for i, (code, status, secs, _) in failed:
        print(f"  run {i}: exit code {code} after {secs:.1f} s: {status}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="runs per mode (default 30)")
    parser.add_argument("--frame", default=str(FRAME), help="FITS frame (default: NGC 6871)")
    parser.add_argument("--modes", default="sequential,parallel",
                        help="sequential, parallel or both (comma-separated)")
    args = parser.parse_args(argv)
    workers = {"sequential": 1, "parallel": PARALLEL}
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - set(workers)
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(sorted(unknown))}; use sequential, parallel")
    print(f"frame {args.frame}, steps {STEPS}, {args.n} runs per mode")
    for mode in modes:
        with tempfile.TemporaryDirectory(prefix=f"ccdphot-stress-{mode}-") as tmp:
            start = time.perf_counter()
            results = stress(args.frame, args.n, workers[mode], Path(tmp))
            report(f"{mode} ({workers[mode]} at a time)", results, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
