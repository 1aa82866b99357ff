"""Overhead of ccdphot's detect step over a bare SExtractor call, in one run.

Times, on the bundled NGC 6871 frame (or a frame given as argument):
  1. the bare ``source-extractor`` call with the very parameter files ccdphot
     wrote for the frame (its work directory), run in a scratch copy;
  2. ``ccdphot.run(frame, steps=["detect"])`` in-process (Python API);
  3. ``ccdphot run --steps detect`` as a command (includes interpreter start-up
     and imports).
Each is repeated and the median reported; the overhead ratios are 2/1 and 3/1.

    .venv/bin/python benchmarks/bench_detect.py [FRAME] [--repeat N]
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ccdphot
from ccdphot.config import load_config
from ccdphot.tools import ToolRegistry

DEMO = Path(__file__).resolve().parent.parent / "tests" / "data" / "ngc6871" / "NGC6871.fits"


def timed(function, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("frame", nargs="?", default=str(DEMO))
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    frame = Path(args.frame)
    scratch = Path(tempfile.mkdtemp(prefix="ccdphot-bench-"))
    try:
        out = scratch / "api"
        result = ccdphot.run(frame, steps=["detect"], out=out)
        work = result.out_dir / "work"
        bare_dir = scratch / "bare"
        shutil.copytree(work, bare_dir)
        tool = ToolRegistry(load_config()).resolve("sextractor")
        bare_argv = [tool.executable, "frame.fits", "-c", "ccdphot.sex"]

        def bare():
            subprocess.run(bare_argv, cwd=bare_dir, check=True, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def api():
            ccdphot.run(frame, steps=["detect"], out=out)

        cli_argv = [sys.executable, "-P", "-m", "ccdphot", "run", str(frame), "--steps",
                    "detect", "--out", str(scratch / "cli")]

        def cli():
            subprocess.run(cli_argv, check=True, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL)

        t_bare, t_api, t_cli = (timed(f, args.repeat) for f in (bare, api, cli))
        rows = len(result.table)
        print(f"frame: {frame.name}  ({rows} detections, SExtractor {tool.version}, "
              f"median of {args.repeat})")
        print(f"  bare source-extractor         {t_bare:7.3f} s   1.00x")
        print(f"  ccdphot.run(steps=[detect])   {t_api:7.3f} s   {t_api / t_bare:5.2f}x")
        print(f"  ccdphot run --steps detect    {t_cli:7.3f} s   {t_cli / t_bare:5.2f}x")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
