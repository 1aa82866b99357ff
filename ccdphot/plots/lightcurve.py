"""The light-curve figures (PNG): target curve, comparison stars, RMS-magnitude, finding chart.

Made with matplotlib's object API (no pyplot state, safe in a batch) and
written atomically. Magnitude axes point up for brighter; times are BJD_TDB
minus a whole day stated on the axis.
"""

import logging
import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from ccdphot.products import atomic_target
from ccdphot.series.ensemble import leave_one_out, offsets

log = logging.getLogger(__name__)

COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
           "tab:pink", "tab:olive", "tab:cyan", "tab:gray")


def _save(figure, path):
    with atomic_target(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110, metadata={"Software": None})
    return path


def _time_axis(time):
    finite = np.asarray(time, float)[np.isfinite(time)]
    origin = math.floor(finite.min()) if finite.size else 0.0
    return origin, f"BJD_TDB - {origin:.0f} (days)"


def _values(column):
    return np.asarray(np.ma.filled(column, np.nan), dtype=float)


def plot_target(lightcurve, path, title):
    """Raw DMAG with the trend, the detrended curve with the transit model, residuals."""
    time = _values(lightcurve["BJD_TDB"])
    origin, label = _time_axis(time)
    t = time - origin
    has_model = "TRANSIT_MODEL_MAG" in lightcurve.colnames
    panels = 3 if has_model else 2
    figure = Figure(figsize=(8, 2.6 * panels + 0.6), layout="constrained")
    axes = figure.subplots(panels, 1, sharex=True)
    raw, err = _values(lightcurve["DMAG"]), _values(lightcurve["DMAG_ERR"])
    trend = _values(lightcurve["TREND_MAG"])
    outlier = np.asarray(lightcurve["OUTLIER"], bool)
    axes[0].errorbar(t, raw, err, fmt="o", ms=3, color="k", ecolor="0.7", label="raw DMAG")
    order = np.argsort(t)
    model_raw = trend + (_values(lightcurve["TRANSIT_MODEL_MAG"]) if has_model else 0.0)
    axes[0].plot(t[order], model_raw[order], color="tab:red",
                 label="trend + transit" if has_model else "trend")
    if outlier.any():
        axes[0].plot(t[outlier], raw[outlier], "x", color="tab:red", ms=8, label="outlier")
    axes[0].set_ylabel("DMAG (mag)")
    detrended = _values(lightcurve["DMAG_DETRENDED"])
    axes[1].errorbar(t, detrended, err, fmt="o", ms=3, color="tab:blue", ecolor="0.75",
                     label="detrended")
    if has_model:
        model = _values(lightcurve["TRANSIT_MODEL_MAG"])
        axes[1].plot(t[order], model[order], color="tab:red", label="transit model")
        axes[2].errorbar(t, detrended - model, err, fmt="o", ms=3, color="0.3", ecolor="0.8")
        axes[2].axhline(0.0, color="tab:red", lw=0.8)
        axes[2].set_ylabel("residual (mag)")
    axes[1].set_ylabel("detrended DMAG (mag)")
    for ax in axes:
        ax.invert_yaxis()
        ax.grid(alpha=0.3)
    for ax in axes[:2]:
        ax.legend(loc="best", fontsize=8)
    axes[-1].set_xlabel(label)
    axes[0].set_title(title, fontsize=10)
    return _save(figure, path)


def plot_comparisons(series, ensemble, mag, path, title):
    """Each comparison against the others' ensemble, and the check star, offset for clarity."""
    time = _values(series.frames["BJD_TDB"])
    origin, label = _time_axis(time)
    t = time - origin
    curves = leave_one_out(mag, ensemble.columns, ensemble.weights)
    stars = series.stars["STAR_ID"]
    rows = [(f"comp {stars[c]}: w={w:.2f}, rms={1000 * s:.1f} mmag", curves[:, i], COLOURS[i % 10])
            for i, (c, w, s) in enumerate(zip(ensemble.columns, ensemble.weights,
                                              ensemble.scatter))]
    if ensemble.check >= 0:
        check = offsets(mag, [ensemble.check])[:, 0] - ensemble.zero_point
        rows.append((f"check {stars[ensemble.check]}: rms={1000 * np.nanstd(check):.1f} mmag",
                     check, "k"))
    for column, (role, _) in sorted(ensemble.roles.items()):
        if role == "variable":
            curve = offsets(mag, [column])[:, 0] - ensemble.zero_point
            rows.append((f"rejected {stars[column]}: rms={1000 * np.nanstd(curve):.1f} mmag",
                         curve, "0.6"))
    spread = np.nanmedian([np.nanstd(c) for _, c, _ in rows]) if rows else 0.01
    step = max(8.0 * spread, 0.01)
    figure = Figure(figsize=(8, 1.0 + 0.55 * len(rows) + 2), layout="constrained")
    ax = figure.subplots()
    for i, (text, curve, colour) in enumerate(rows):
        ax.plot(t, curve + i * step, "o", ms=3, color=colour)
        ax.annotate(text, (1.01, i * step), xycoords=("axes fraction", "data"), fontsize=8,
                    va="center", color=colour)
    ax.set_ylim(len(rows) * step, -step)
    ax.set_xlabel(label)
    ax.set_ylabel(f"star minus ensemble (mag), offset by {step:.3f} per star")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return _save(figure, path)


def plot_rms_magnitude(variability, ensemble_err, path, title, n_labels=10):
    """RMS of every star's differential curve against its median magnitude."""
    table = variability
    magnitude = _values(table["MEDIAN_MAG"])
    rms = _values(table["RMS_MAG"])
    expected = np.sqrt(np.square(_values(table["MEDIAN_ERR"])) + ensemble_err ** 2)
    good = np.isfinite(magnitude) & np.isfinite(rms) & (rms > 0)
    figure = Figure(figsize=(7.5, 5.5), layout="constrained")
    ax = figure.subplots()
    ax.scatter(magnitude[good], rms[good], s=6, color="0.5", label="stars")
    known = good & np.isfinite(expected)
    if known.sum() > 4:
        edges = np.arange(np.floor(magnitude[known].min()), magnitude[known].max() + 0.5, 0.5)
        which = np.digitize(magnitude[known], edges)
        bins = [b for b in np.unique(which) if (which == b).sum() >= 3]
        ax.plot([np.median(magnitude[known][which == b]) for b in bins],
                [np.median(expected[known][which == b]) for b in bins], color="tab:blue", lw=2,
                label="expected (median errors)")
    roles = np.asarray(table["ROLE"])
    for role, marker, colour in (("comparison", "s", "tab:green"), ("check", "^", "tab:purple")):
        pick = good & (roles == role)
        ax.scatter(magnitude[pick], rms[pick], s=40, marker=marker, facecolor="none",
                   edgecolor=colour, label=role)
    candidate = good & np.asarray(table["CANDIDATE"], bool)
    ax.scatter(magnitude[candidate], rms[candidate], s=40, facecolor="none", edgecolor="tab:red",
               label="variable candidate")
    for row in np.flatnonzero(candidate)[:n_labels]:
        ax.annotate(str(table["STAR_ID"][row]), (magnitude[row], rms[row]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points", color="tab:red")
    target = good & (roles == "target")
    ax.scatter(magnitude[target], rms[target], s=120, marker="*", color="gold", edgecolor="k",
               label="target", zorder=5)
    ax.set_yscale("log")
    ax.set_xlabel("median instrumental magnitude (mag)")
    ax.set_ylabel("RMS of the differential light curve (mag)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, which="both")
    return _save(figure, path)


def plot_finding_chart(series, target, ensemble, path, title):
    """The reference frame's stars (size by brightness) with target, comparisons, check."""
    stars = series.stars
    x, y = _values(stars["X_REF"]), _values(stars["Y_REF"])
    magnitude = _values(stars["MAG_REF"])
    good = np.isfinite(x) & np.isfinite(y) & np.isfinite(magnitude)
    faint = np.nanpercentile(magnitude[good], 95) if good.any() else 0.0
    size = np.clip(4.0 * (faint - magnitude) + 2.0, 1.0, 120.0)
    figure = Figure(figsize=(10, 6.5), layout="constrained")
    ax = figure.subplots()
    ax.scatter(x[good], y[good], s=size[good], color="k", linewidths=0)
    marks = [(target, "T", "darkorange", 16, (10, 10))]
    marks += [(c, f"C{i + 1}", "tab:green", 12, (8, 8)) for i, c in enumerate(ensemble.columns)]
    if ensemble.check >= 0:
        marks.append((ensemble.check, "K", "tab:purple", 12, (-16, -18)))
    legend = []
    for column, text, colour, radius, offset in marks:
        ax.add_patch(_circle((x[column], y[column]), radius, colour))
        ax.annotate(text, (x[column], y[column]), xytext=offset, textcoords="offset points",
                    fontsize=9, color=colour, fontweight="bold",
                    bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "alpha": 0.8,
                          "edgecolor": "none"})
        legend.append(f"{text:>3} star {stars['STAR_ID'][column]:<5d} "
                      f"({x[column]:.0f}, {y[column]:.0f})")
    ax.text(1.02, 1.0, "\n".join(["T target, C comparison,", "K check; (x, y) in pixels", ""]
                                 + legend), transform=ax.transAxes, va="top", fontsize=8,
            family="monospace")
    ax.set_aspect("equal")
    ax.set_xlabel(f"x (pixel, FITS) in reference frame {series.reference}")
    ax.set_ylabel("y (pixel, FITS)")
    ax.set_title(title, fontsize=10)
    return _save(figure, path)


def _circle(centre, radius, colour):
    return Circle(centre, radius, fill=False, edgecolor=colour, lw=1.5)


def plot_multi(combined, path, title):
    """Calibrated light curve of the target, one colour per telescope/filter series."""
    time = _values(combined["BJD_TDB"])
    origin, label = _time_axis(time)
    figure = Figure(figsize=(8, 4.5), layout="constrained")
    ax = figure.subplots()
    groups = list(dict.fromkeys(combined["GROUP"]))
    for i, group in enumerate(groups):
        rows = np.asarray(combined["GROUP"]) == group
        ax.errorbar(time[rows] - origin, _values(combined["MAG_CAL_ENS"])[rows],
                    _values(combined["DMAG_ERR"])[rows], fmt="o", ms=3,
                    color=COLOURS[i % 10], label=group)
    ax.invert_yaxis()
    ax.set_xlabel(label)
    ax.set_ylabel("calibrated magnitude (mag)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(figure, path)
