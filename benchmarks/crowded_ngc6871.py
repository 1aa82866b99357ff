"""Benchmark: crowded-field depth of ccdphot's automatic PSF photometry vs a DAOPHOT reduction.

Runs ``header,detect,psf`` on the NGC 6871 frame (tests/data/ngc6871) for
several setups, side by side, and compares each final ALLSTAR list with the
legacy ALLSTAR list (NGC6871.als, 4146 stars):

* completeness: legacy stars matched within 0.5 pix (mutual nearest), all,
  with legacy error < 0.1, and per 1-mag bin of legacy magnitude;
* robust sigma (1.4826 MAD) of MAG_PSF - legacy MAG for legacy error < 0.02;
* spurious fraction: measured stars with MAGERR_PSF < 0.1 and no legacy star
  within 1.5 pix, among measured stars with MAGERR_PSF < 0.1 inside the
  legacy list's footprint;
* seconds of each ALLSTAR pass (from run.json).

    python benchmarks/crowded_ngc6871.py [--setups auto,normal,normal2,crowded1,crowded2,...]
    python benchmarks/crowded_ngc6871.py --sparse FRAME [FRAME ...]

``auto`` is the default config (the crowding index decides); ``auto_allchi``
the same keeping every new star ALLSTAR fitted. ``--sparse`` runs the given
frames (e.g. SkyCamZ, HAT-P-32) with the defaults and with the normal setup
(normal detection, one pass), and prints what ``auto`` chose, what the passes
added and what it cost. Figures are printed, never asserted.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

import ccdphot
from ccdphot.daophot.daophot2_files import read_daophot_als
from ccdphot.daophot.legacy_comparison import compare_to_legacy

HERE = Path(__file__).resolve().parent
NGC6871 = HERE.parent / "tests" / "data" / "ngc6871"
STEPS = ["header", "detect", "psf"]
SETUPS = {
    "auto": {},
    "auto_allchi": {"psf": {"second_pass": {"max_chi_ratio": 0.0}}},
    "normal": {"detect": {"crowded": {"enabled": False}}, "psf": {"passes": 1}},
    "normal2": {"detect": {"crowded": {"enabled": False}}, "psf": {"passes": 2}},
    "crowded1": {"detect": {"crowded": {"enabled": True}}, "psf": {"passes": 1}},
    "crowded2": {"detect": {"crowded": {"enabled": True}}, "psf": {"passes": 2}},
    "crowded3": {"detect": {"crowded": {"enabled": True}}, "psf": {"passes": 3}},
}
MATCH_PIX = 0.5
SPURIOUS_PIX = 1.5


def run_setup(frame, config, out):
    start = time.perf_counter()
    result = ccdphot.run(str(frame), config=config, steps=STEPS, out=out)
    seconds = time.perf_counter() - start
    record = result.record
    psf = record.get("details", {}).get("psf", {})
    if record["status"] not in ("ok", "done") and not psf:
        raise RuntimeError(f"{frame.name}: run {record['status']}: {record['steps']}")
    return result.table, psf.get("passes", []), seconds, record


def completeness(table, legacy):
    """Legacy-list completeness and photometric agreement figures (a dict)."""
    matched, summary = compare_to_legacy(table, legacy, match_radius_pix=MATCH_PIX)
    hit = np.asarray(matched["MATCHED"], bool)
    lmag = np.asarray(legacy["MAG"], float)
    lerr = np.asarray(legacy["MERR"], float)
    bins = {}
    for lo in range(int(np.floor(np.nanmin(lmag))), int(np.ceil(np.nanmax(lmag)))):
        sel = (lmag >= lo) & (lmag < lo + 1)
        if sel.any():
            bins[f"{lo}-{lo + 1}"] = (round(float(hit[sel].mean()), 3), int(sel.sum()))
    return {"n_measured": int((~np.ma.getmaskarray(table["MAG_PSF"])).sum()),
            "completeness": round(float(hit.mean()), 3),
            "completeness_err_lt_0.1": round(float(hit[lerr < 0.1].mean()), 3),
            "sigma_dmag_err_lt_0.02": round(float(summary["robust_scatter_mag"]), 4),
            "spurious_fraction": spurious_fraction(table, legacy),
            "completeness_by_mag": bins}


def spurious_fraction(table, legacy):
    ok = ~np.ma.getmaskarray(table["MAG_PSF"]) & (np.ma.filled(table["MAGERR_PSF"], 9) < 0.1)
    x = np.ma.getdata(table["X_PSF"])[ok]
    y = np.ma.getdata(table["Y_PSF"])[ok]
    lx, ly = np.asarray(legacy["X"], float), np.asarray(legacy["Y"], float)
    inside = (x >= lx.min()) & (x <= lx.max()) & (y >= ly.min()) & (y <= ly.max())
    distance, _ = cKDTree(np.column_stack([lx, ly])).query(np.column_stack([x, y])[inside])
    return round(float(np.mean(distance > SPURIOUS_PIX)), 3) if inside.any() else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setups", default="auto,normal")
    parser.add_argument("--sparse", nargs="+", type=Path)
    args = parser.parse_args()
    if args.sparse:
        for frame in args.sparse:
            for name in ("auto", "normal"):
                with tempfile.TemporaryDirectory() as out:
                    table, per_pass, seconds, record = run_setup(frame, SETUPS[name], out)
                qc = record["qc"]
                print(json.dumps({"frame": frame.name, "setup": name,
                                  "crowding_index": qc.get("crowding_index"),
                                  "crowded": qc.get("crowded"), "n_rows": len(table),
                                  "per_pass": per_pass, "seconds_total": round(seconds, 1)}),
                      flush=True)
        return
    legacy = read_daophot_als(NGC6871 / "NGC6871.als")
    for name in args.setups.split(","):
        with tempfile.TemporaryDirectory() as out:
            table, per_pass, seconds, record = run_setup(NGC6871 / "NGC6871.fits",
                                                         SETUPS[name], out)
        figures = completeness(table, legacy)
        print(json.dumps({"setup": name, **figures, "per_pass": per_pass,
                          "crowding_index": record["qc"].get("crowding_index"),
                          "seconds_total": round(seconds, 1)}), flush=True)


if __name__ == "__main__":
    main()
