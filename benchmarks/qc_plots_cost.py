"""Cost of the per-frame QC figures against the frame's whole time.

Runs the full default pipeline on a frame (NGC 6871 by default) with ``[plots]
qc`` on and off, ``--repeat`` times each, interleaved, and prints the write
step's ``qc_plots_seconds`` (from run.json), the frame's total time and their
ratio; then the same as CPU time (ccdphot's own plus its tools'), which a
busy machine does not distort: the frame's CPU time with the figures, and the
CPU time of drawing the two figures again in the same process. Offline
catalogues: the zero point and astrometry use what is cached or bundled.
Figures are printed, never asserted.

    .venv/bin/python benchmarks/qc_plots_cost.py [--frame FITS] [--steps a,b] [--repeat N]
"""

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from astropy.io import fits

import ccdphot
from ccdphot.config import load_config
from ccdphot.plots.frame_qc import plot_photometry_qc, plot_thumbnail

NGC6871 = Path(__file__).resolve().parent.parent / "tests" / "data" / "ngc6871" / "NGC6871.fits"


def _cpu_seconds():
    """CPU time of this process and of the tools it ran (children)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frame", type=Path, default=NGC6871)
    parser.add_argument("--steps", help="steps to run (default: the configured sequence)")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    steps = args.steps.split(",") if args.steps else None
    totals = {True: [], False: []}
    cpu_frames = []
    plots = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for qc in (True, False):
                config = load_config(data={"plots": {"qc": qc}, "catalogs": {"offline": True}})
                before = _cpu_seconds()
                result = ccdphot.run(args.frame, config=config, steps=steps,
                                     out=Path(tmp) / str(qc))
                totals[qc].append(result.record["seconds"])
                if qc:
                    cpu_frames.append(_cpu_seconds() - before)
                    write = next(s for s in result.record["steps"] if s["name"] == "write")
                    plots.append(write["figures"]["qc_plots_seconds"])
        out_dir = result.out_dir.parent.parent / "True" / result.out_dir.name
        image = fits.getdata(out_dir / "work" / "frame.fits")
        table = result.table
        cpu = time.process_time()
        plot_thumbnail(image, table, Path(tmp) / "a.png", "thumbnail")
        plot_photometry_qc(table, Path(tmp) / "b.png", "photometry", image.shape)
        cpu = time.process_time() - cpu
    with_qc, without = statistics.median(totals[True]), statistics.median(totals[False])
    qc_s = statistics.median(plots)
    print(f"{args.frame.name}: {len(table)} rows, steps {','.join(steps) if steps else 'all'}")
    print(f"frame time with QC figures {with_qc:.2f} s, without {without:.2f} s (medians of "
          f"{args.repeat}); qc_plots_seconds {qc_s:.3f} s = {100 * qc_s / with_qc:.1f} % of "
          f"the frame")
    cpu_frame = statistics.median(cpu_frames)
    print(f"CPU time: frame with QC figures {cpu_frame:.2f} s, the two figures drawn again "
          f"{cpu:.3f} s = {100 * cpu / cpu_frame:.1f} % (the first frame of a process also "
          "imports matplotlib)")


if __name__ == "__main__":
    main()
