"""Benchmark: the crowding index of real frames, and what ``auto`` decides for each.

For each frame, ``header,detect`` with the normal detection
(``[detect.crowded] enabled = false``) and prints the seeing, the number of
detections, the crowding index the detect step measured
(:func:`ccdphot.detection.crowded.crowding_index`), the fraction of detections
with a detected neighbour within 3 FWHM, and the decision of ``auto``. The
figures behind :data:`ccdphot.detection.crowded.CROWDED_INDEX`.

    python benchmarks/crowding_index.py [FRAME ...]

Without frames: NGC 6871 (tests/data) and the frames of ../shared/data
(skycamz, astrometry, hatp32). Figures are printed, never asserted.
"""

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

import ccdphot
from ccdphot.detection.crowded import CROWDED_INDEX, NEIGHBOUR_RADIUS_FWHM

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
NORMAL = {"detect": {"crowded": {"enabled": False}}}


def default_frames():
    return ([HERE.parent / "tests" / "data" / "ngc6871" / "NGC6871.fits"]
            + sorted((SHARED / "skycamz").glob("*.fits"))
            + [SHARED / "astrometry" / name for name in ("solved.fits", "unsolved.fits",
                                                         "pole.fits", "rotation.fits")]
            + sorted((SHARED / "hatp32" / "frames").glob("*.FITS")))


def neighbour_fraction(table, fwhm_pix):
    """Fraction of detections with another within NEIGHBOUR_RADIUS_FWHM x FWHM."""
    points = np.column_stack([np.ma.getdata(table["X_IMAGE"]), np.ma.getdata(table["Y_IMAGE"])])
    if len(points) < 2 or not np.isfinite(fwhm_pix):
        return None
    distance, _ = cKDTree(points).query(points, k=2)
    return round(float(np.mean(distance[:, 1] < NEIGHBOUR_RADIUS_FWHM * fwhm_pix)), 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("frames", nargs="*", type=Path)
    frames = parser.parse_args().frames or default_frames()
    for frame in frames:
        with tempfile.TemporaryDirectory() as out:
            result = ccdphot.run(str(frame), config=NORMAL, steps=["header", "detect"], out=out)
        qc = result.record["qc"]
        index = qc.get("crowding_index")
        print(json.dumps({"frame": frame.name, "seeing_fwhm_pix": qc["seeing_fwhm_pix"],
                          "n_detections": qc["n_detections"], "crowding_index": index,
                          "neighbour_fraction": neighbour_fraction(result.table,
                                                                   qc["seeing_fwhm_pix"]),
                          "auto": "crowded" if index is not None and index >= CROWDED_INDEX
                          else "not crowded"}), flush=True)


if __name__ == "__main__":
    main()
