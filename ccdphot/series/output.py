"""Write a light-curve result: tables, the AAVSO file, the summary and the plots.

For one series everything goes to ``out/``; for several (telescopes or
filters) each series gets ``out/<series>/`` and ``out/`` holds the combined
light curve and its plot. Every file is written atomically and holds no time
stamp of its own, so rebuilding from the same RESULTS gives identical files.
"""

import json
import logging
import re
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.table import Table

from ccdphot import __version__
from ccdphot.errors import OutputError
from ccdphot.plots.ensemble import plot_comparisons, plot_finding_chart, plot_rms_magnitude
from ccdphot.plots.lightcurve import plot_multi, plot_target
from ccdphot.products import write_table_atomic, write_text_atomic
from ccdphot.series.aavso import aavso_extended
from ccdphot.series.ensemble import leave_one_out, offsets

log = logging.getLogger(__name__)

TARGET_LC = "target_lc.ecsv"
TARGET_CSV = "target_lc.csv"
AAVSO_TXT = "target_aavso.txt"
STARS_LC = "stars_lc.ecsv"
VARIABILITY = "variability.ecsv"
COMPARISONS = "comparisons.ecsv"
FRAMES = "frames.ecsv"
SUMMARY = "lightcurve.json"


def _slug(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "series"


def stars_table(result):
    """Every matched star in every frame (long format): the all-stars light curves."""
    series = result.series
    mag, err = series.magnitudes(result.method)
    frame_rows, star_cols = np.nonzero(np.isfinite(mag))
    table = Table()
    table["FRAME"] = np.asarray(series.frames["FRAME"])[frame_rows]
    table["BJD_TDB"] = np.asarray(result.lightcurve["BJD_TDB"].filled(np.nan))[frame_rows] * u.day
    table["STAR_ID"] = np.asarray(series.stars["STAR_ID"])[star_cols]
    table["MAG_INST"] = mag[frame_rows, star_cols] * u.mag
    table["MAGERR_INST"] = err[frame_rows, star_cols] * u.mag
    table["DMAG"] = result.differential[frame_rows, star_cols] * u.mag
    for name in ("X_IMAGE", "Y_IMAGE"):
        table[name] = series.values[name][frame_rows, star_cols] * u.pix
    table["FLAGS"] = series.values["FLAGS"][frame_rows, star_cols]
    table.meta["DMAG"] = "instrumental magnitude minus the comparison ensemble's zero point"
    return table


def comparisons_table(result):
    """Target, comparison, check and rejected stars with weights and scatter."""
    stars, ensemble = result.series.stars, result.ensemble
    weight = dict(zip(ensemble.columns.tolist(), ensemble.weights))
    scatter = dict(zip(ensemble.columns.tolist(), ensemble.scatter))
    columns = [result.target] + sorted(ensemble.roles)
    table = Table()
    table["STAR_ID"] = np.asarray(stars["STAR_ID"])[columns]
    table["ROLE"] = ["target"] + [ensemble.roles[c][0] for c in columns[1:]]
    for name in ("X_REF", "Y_REF", "RA_DEG", "DEC_DEG"):
        table[name] = stars[name][columns]
    with np.errstate(invalid="ignore"):
        mag, _ = result.series.magnitudes(result.method)
        table["MEDIAN_MAG"] = np.nanmedian(mag[:, columns], axis=0) * u.mag
    table["WEIGHT"] = [weight.get(c, 0.0) for c in columns]
    table["RMS_VS_ENSEMBLE"] = [scatter.get(c, np.nan) for c in columns] * u.mag
    table["REASON"] = [""] + [ensemble.roles[c][1] for c in columns[1:]]
    return table


def comparison_curves(result):
    """(label, magnitudes per frame, kind) of each comparison against the others'
    ensemble, the check star and the rejected candidates, for ``comparisons.png``."""
    mag, _ = result.series.magnitudes(result.method)
    ensemble, stars = result.ensemble, result.series.stars["STAR_ID"]
    loo = leave_one_out(mag, ensemble.columns, ensemble.weights)
    curves = [(f"comp {stars[c]}: w={w:.2f}, rms={1000 * s:.1f} mmag", loo[:, i], "comparison")
              for i, (c, w, s) in enumerate(zip(ensemble.columns, ensemble.weights,
                                                ensemble.scatter))]
    others = [(ensemble.check, "check")] if ensemble.check >= 0 else []
    others += [(column, "rejected") for column, (role, _) in sorted(ensemble.roles.items())
               if role == "variable"]
    for column, kind in others:
        curve = offsets(mag, [column])[:, 0] - ensemble.zero_point
        curves.append((f"{kind} {stars[column]}: rms={1000 * np.nanstd(curve):.1f} mmag", curve,
                       kind))
    return curves


def _write_plots(result, out_dir, name):
    title = f"{name} - {result.group}, {result.method} photometry"
    plot_target(result.lightcurve, out_dir / "target_lc.png", title)
    plot_comparisons(result.series.frames["BJD_TDB"],
                     comparison_curves(result), out_dir / "comparisons.png",
                     f"{result.group}: comparison stars (Broeg weights)")
    plot_rms_magnitude(result.variability, float(np.nanmedian(result.ensemble.zero_point_err)),
                       out_dir / "rms_mag.png", f"{result.group}: {result.series.n_stars} stars, "
                       f"{result.series.n_frames} frames")
    plot_finding_chart(result.series.stars, result.target, result.ensemble.columns,
                       result.ensemble.check, result.series.reference,
                       out_dir / "finding_chart.png", f"{name}: finding chart")


def _write_series(result, out_dir, options):
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table_atomic(result.lightcurve, out_dir / TARGET_LC, format="ascii.ecsv")
    write_table_atomic(result.lightcurve, out_dir / TARGET_CSV, format="ascii.csv")
    write_table_atomic(comparisons_table(result), out_dir / COMPARISONS, format="ascii.ecsv")
    write_table_atomic(result.variability, out_dir / VARIABILITY, format="ascii.ecsv")
    write_table_atomic(stars_table(result), out_dir / STARS_LC, format="ascii.ecsv")
    write_table_atomic(result.series.frames, out_dir / FRAMES, format="ascii.ecsv")
    stars = result.series.stars["STAR_ID"]
    check = f"S{stars[result.ensemble.check]}" if result.ensemble.check >= 0 else "na"
    write_text_atomic(out_dir / AAVSO_TXT, aavso_extended(
        result.lightcurve, options["name"], obscode=options["obscode"],
        date=options["aavso_date"], filter_code=options["aavso_filter"], check_name=check,
        comparison_names=[f"S{stars[c]}" for c in result.ensemble.columns]))
    if options["plots"]:
        _write_plots(result, out_dir, options["name"])


def write_lightcurves(result, out, name="target", obscode="na", aavso_date="JD",
                      aavso_filter=None, plots_wanted=True):
    """Write every product of a :class:`LightCurveResult` under ``out``; return the summary."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create {out} ({err.strerror}); choose another --out") from err
    options = {"name": name, "obscode": obscode, "aavso_date": aavso_date,
               "aavso_filter": aavso_filter, "plots": plots_wanted}
    several = len(result.groups) > 1
    summary = {"ccdphot_version": __version__, "target_name": name, "series": [],
               "rejected_frames": [r.reason for r in result.rejected]}
    for series_result in result.groups:
        directory = out / _slug(series_result.group) if several else out
        _write_series(series_result, directory, options)
        entry = dict(series_result.summary)
        entry["directory"] = directory.relative_to(out).as_posix() if several else "."
        summary["series"].append(entry)
    if several:
        write_table_atomic(result.combined, out / TARGET_LC, format="ascii.ecsv")
        write_table_atomic(result.combined, out / TARGET_CSV, format="ascii.csv")
        if plots_wanted and "MAG_CAL_ENS" in result.combined.colnames:
            plot_multi(result.combined, out / "target_lc.png",
                             f"{name}: {len(result.groups)} telescope/filter series")
    write_text_atomic(out / SUMMARY, json.dumps(summary, indent=2, default=_jsonable) + "\n")
    return summary


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    return str(value)
