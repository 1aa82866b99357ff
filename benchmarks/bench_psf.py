"""Benchmark: ccdphot's aperture + psf steps (IRAF DAOPHOT/ALLSTAR) against photutils.

On the NGC 6871 frame (tests/data/ngc6871), in one run:

1. ccdphot's steps header, detect, aperture, psf, frame after frame as in a
   batch (one ToolRegistry, tool versions probed once), in two modes side by
   side, interleaved so that both see the same machine load:
   *one-shot PyRAF jobs* (``[tools.iraf] persistent = false``: PyRAF started
   for every IRAF job) and *persistent PyRAF session* (the default: one PyRAF
   process for all the jobs of all frames). The time of the aperture and psf
   steps is taken from run.json; the first frame of each mode (IRAF version
   probe, session start) is reported apart, the median of the next
   ``--frames`` is what every further frame costs.
2. photutils on the same frame, the same star list (the detection list) and
   the same PSF stars (those IRAF PSF kept in the last iteration): an ePSF built with
   ``EPSFBuilder`` and fitted with ``PSFPhotometry`` (a ``SourceGrouper`` so
   that blended stars are fitted together, as ALLSTAR does; a local sky
   annulus as PHOT's). Timed from the cut-outs to the fluxes.

It prints the time ratios (photutils / ccdphot per mode, one-shot / session)
with the load average, and the agreement of the magnitudes (median offset
and robust scatter 1.4826 MAD of MAG_PSF - photutils magnitude, for stars
with MAGERR_PSF < 0.02 mag). Figures are printed, never asserted.

    python benchmarks/bench_psf.py [--frame FITS] [--frames 3] [--legacy] [-o KEY=VALUE ...]

``--legacy`` also runs the legacy reproduction (``--legacy`` of ``ccdphot
run`` on tests/data/ngc6871), prints its comparison figures, and times
photutils on the legacy star list with the legacy PSF and fitting radii.
"""

import argparse
import json
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.nddata import NDData
from astropy.stats import SigmaClip
from astropy.table import Table

from ccdphot.config import load_config, parse_override
from ccdphot.frame.pipeline import run_frame
from ccdphot.tools import ToolRegistry
from ccdphot.wrappers.daophot import read_iraf_daophot

HERE = Path(__file__).resolve().parent
NGC6871 = HERE.parent / "tests" / "data" / "ngc6871"
STEPS = ["header", "detect", "aperture", "psf"]
MODES = {"one-shot PyRAF jobs": False, "persistent PyRAF session": True}


def step_seconds(record, names):
    return sum(step["seconds"] for step in record["steps"] if step["name"] in names)


def run_ccdphot(frame, out, tools, options=None):
    result = run_frame(frame, tools.config, steps=STEPS, out=out, options=options, tools=tools)
    return result, step_seconds(result.record, ("aperture", "psf"))


def load():
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def time_modes(frame, out, n_frames, overrides=()):
    """{mode: (first frame s, [next frames s])} and the last result of the default mode,
    the modes' frames interleaved; ``overrides`` are ``-o KEY=VALUE`` config overrides."""
    registries = {mode: ToolRegistry(load_config(overrides=overrides, data={"tools": {"iraf": {
        "persistent": persistent}}}), sessions=True) for mode, persistent in MODES.items()}
    times = {mode: [] for mode in MODES}
    try:
        for i in range(n_frames + 1):
            for mode, tools in registries.items():
                result, seconds = run_ccdphot(frame, out / f"{mode}_{i}".replace(" ", "_"),
                                              tools)
                times[mode].append(seconds)
    finally:
        for tools in registries.values():
            tools.close()
    return {mode: (t[0], t[1:]) for mode, t in times.items()}, result


def run_photutils(frame, table, pst_path, fwhm_pix, psfrad_pix, fitrad_pix):
    """photutils ePSF + PSFPhotometry on the ccdphot star list; (fluxes Table, seconds)."""
    from photutils.background import LocalBackground, MMMBackground
    from photutils.psf import EPSFBuilder, PSFPhotometry, SourceGrouper, extract_stars

    data = fits.getdata(frame).astype(float)
    psf_stars = read_iraf_daophot(pst_path)
    start = time.perf_counter()
    bkg = MMMBackground(sigma_clip=SigmaClip(sigma=3.0))
    size = 2 * int(np.ceil(psfrad_pix)) + 1
    stars_tbl = Table({"x": np.asarray(psf_stars["X"], float) - 1.0,
                       "y": np.asarray(psf_stars["Y"], float) - 1.0})
    sky = bkg(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cutouts = extract_stars(NDData(data - sky), stars_tbl, size=size)
        epsf, _ = EPSFBuilder(oversampling=2, maxiters=5, progress_bar=False)(cutouts)
    t_model = time.perf_counter() - start

    ok = ~np.ma.getmaskarray(table["X_IMAGE"])
    init = Table({"id": np.asarray(table["NUMBER"])[ok],
                  "x": np.asarray(table["X_IMAGE"], float)[ok] - 1.0,
                  "y": np.asarray(table["Y_IMAGE"], float)[ok] - 1.0})
    fit_shape = 2 * int(round(fitrad_pix)) + 1
    phot = PSFPhotometry(epsf, fit_shape, grouper=SourceGrouper(min_separation=2.0 * fwhm_pix),
                         aperture_radius=fwhm_pix,
                         local_bkg_estimator=LocalBackground(3 * fwhm_pix, 6 * fwhm_pix,
                                                             bkg_estimator=bkg))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = phot(data, init_params=init)
    seconds = time.perf_counter() - start
    print(f"  photutils: ePSF from {len(stars_tbl)} stars in {t_model:.1f} s, "
          f"PSFPhotometry of {len(init)} stars in {seconds - t_model:.1f} s")
    return fitted, seconds


def agreement(table, fitted, zero_point_mag=25.0):
    flux = np.asarray(fitted["flux_fit"], float)
    mag_pu = np.where(flux > 0, zero_point_mag - 2.5 * np.log10(np.where(flux > 0, flux, 1)),
                      np.nan)
    row = {int(n): i for i, n in enumerate(table["NUMBER"])}
    idx = np.array([row[int(i)] for i in fitted["id"]])
    mag = np.ma.filled(table["MAG_PSF"].astype(float), np.nan)[idx]
    err = np.ma.filled(table["MAGERR_PSF"].astype(float), np.nan)[idx]
    good = np.isfinite(mag) & np.isfinite(mag_pu) & (err < 0.02)
    dmag = mag[good] - mag_pu[good]
    offset = float(np.median(dmag))
    scatter = float(1.4826 * np.median(np.abs(dmag - offset)))
    return int(good.sum()), offset, scatter


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frame", default=str(NGC6871 / "NGC6871.fits"))
    parser.add_argument("--frames", type=int, default=3,
                        help="frames timed per mode after the first (default 3)")
    parser.add_argument("--legacy", action="store_true",
                        help="also time and compare the legacy reproduction")
    parser.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                        help="config override as in `ccdphot run -o`, e.g. "
                             "detect.crowded.enabled=false -o psf.passes=1 (the sparse-field "
                             "chain of issue 14's baseline)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_psf_") as tmp:
        out = Path(tmp)
        load_before = load()
        modes, result = time_modes(args.frame, out, args.frames,
                                    [parse_override(text) for text in args.override])
        per_frame = {mode: statistics.median(t) for mode, (_, t) in modes.items()}
        details = result.record["details"]["psf"]
        qc = result.record["qc"]
        print(f"load average (1/5/15 min) {load_before} -> {load()} on {os.cpu_count()} CPUs")
        print(f"ccdphot: {qc['psf_n_fitted']} stars fitted, PSF {qc['psf_function']} from "
              f"{qc['psf_n_stars']} stars, {len(details['iterations'])} iterations")
        work = result.out_dir / "work"
        used_psf_stars = work / f"psf_iter{len(details['iterations'])}.pst"
        fitted, t_pu = run_photutils(args.frame, result.table, used_psf_stars,
                                     qc["seeing_fwhm_pix"], details["daopars"]["psfrad"],
                                     details["daopars"]["fitrad"])
        n, offset, scatter = agreement(result.table, fitted)
        print(f"photutils PSF photometry: {t_pu:.2f} s")
        print(f"\n| ccdphot aperture+psf | first frame s | per frame s (median of "
              f"{args.frames}) | photutils / ccdphot per frame |\n|---|---|---|---|")
        for mode, (first, _) in modes.items():
            print(f"| {mode} | {first:.2f} | {per_frame[mode]:.2f} | "
                  f"{t_pu / per_frame[mode]:.1f}x |")
        one_shot, session = (per_frame[mode] for mode in MODES)
        print(f"\npersistent session speed-up of aperture+psf per frame: "
              f"{one_shot / session:.2f}x")
        print(f"magnitudes: {n} stars with MAGERR_PSF < 0.02: median(ccdphot - photutils) "
              f"{offset:+.4f} mag, robust scatter {scatter:.4f} mag")
        if args.legacy:
            with ToolRegistry(load_config(), sessions=True) as tools:
                legacy, t_leg = run_ccdphot(args.frame, out / "legacy", tools,
                                            options={"legacy_dir": str(NGC6871)})
            summary = legacy.record["details"]["legacy_comparison"]
            print(f"legacy reproduction: aperture+psf {t_leg:.2f} s; "
                  + json.dumps({k: round(v, 4) if isinstance(v, float) else v
                                for k, v in summary.items()
                                if k in ("matched_fraction", "median_dmag_mag",
                                         "robust_scatter_mag", "n_precise_matched",
                                         "n_outliers")}))
            leg_details = legacy.record["details"]["psf"]
            fitted, t_pu = run_photutils(
                args.frame, legacy.table,
                legacy.out_dir / "work" / f"psf_iter{len(leg_details['iterations'])}.pst",
                qc["seeing_fwhm_pix"], leg_details["daopars"]["psfrad"],
                leg_details["daopars"]["fitrad"])
            n, offset, scatter = agreement(legacy.table, fitted)
            print(f"photutils with the legacy star list and radii: {t_pu:.2f} s; speed ratio "
                  f"{t_pu / t_leg:.1f}x; {n} stars: offset {offset:+.4f} mag, "
                  f"robust scatter {scatter:.4f} mag")


if __name__ == "__main__":
    main()
