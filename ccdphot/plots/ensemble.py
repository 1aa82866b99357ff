"""Figures of a light curve's comparison ensemble: how far each star can be trusted.

``comparisons.png``: each comparison star against the others' ensemble, the
check star and the rejected candidates, offset for clarity. ``rms_mag.png``:
RMS of every star's differential curve against its magnitude, with the
expected noise. ``finding_chart.png``: the reference frame's stars with the
target, comparisons and check star marked. The curves are computed by
:mod:`ccdphot.series.output`; this module only draws.
"""

import logging

import numpy as np

from ccdphot.plots.common import (agg_figure, float_values, label_axes, plain_log_y, save_png,
                                  time_axis, with_unit)

log = logging.getLogger(__name__)

DPI = 110
COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
           "tab:pink", "tab:olive", "tab:cyan", "tab:gray")
# colour of a curve by its kind; comparisons take COLOURS in turn
_KIND_COLOURS = {"check": "k", "rejected": "0.6"}


def plot_comparisons(bjd_tdb, curves, path, title):
    """``curves``: (label, magnitudes per frame, kind) with kind comparison, check or
    rejected, drawn one above the other against BJD_TDB (days)."""
    t, label = time_axis(float_values(bjd_tdb))
    spread = np.nanmedian([np.nanstd(c) for _, c, _ in curves]) if curves else 0.01
    step = max(8.0 * spread, 0.01)
    figure = agg_figure(8, 1.0 + 0.55 * len(curves) + 2, layout="constrained")
    ax = figure.subplots()
    for i, (text, curve, kind) in enumerate(curves):
        colour = _KIND_COLOURS.get(kind, COLOURS[i % len(COLOURS)])
        ax.plot(t, curve + i * step, "o", ms=3, color=colour)
        ax.annotate(text, (1.01, i * step), xycoords=("axes fraction", "data"), fontsize=8,
                    va="center", color=colour)
    ax.set_ylim(len(curves) * step, -step)
    label_axes(ax, label, with_unit(f"star minus ensemble, offset by {step:.3f} per star", "mag"),
               title)
    ax.grid(alpha=0.3)
    return save_png(figure, path, dpi=DPI)


def _expected_by_bin(ax, magnitude, expected):
    """The median expected RMS in 0.5 mag bins of at least three stars."""
    edges = np.arange(np.floor(magnitude.min()), magnitude.max() + 0.5, 0.5)
    which = np.digitize(magnitude, edges)
    bins = [b for b in np.unique(which) if (which == b).sum() >= 3]
    ax.plot([np.median(magnitude[which == b]) for b in bins],
            [np.median(expected[which == b]) for b in bins], color="tab:blue", lw=2,
            label="expected (median errors)")


def plot_rms_magnitude(variability, ensemble_err, path, title, n_labels=10):
    """RMS of every star's differential curve against its median magnitude.

    ``variability`` has MEDIAN_MAG, RMS_MAG, MEDIAN_ERR, ROLE, CANDIDATE and
    STAR_ID; ``ensemble_err`` (mag) is added in quadrature for the expected RMS.
    """
    table = variability
    magnitude = float_values(table["MEDIAN_MAG"])
    rms = float_values(table["RMS_MAG"])
    expected = np.sqrt(np.square(float_values(table["MEDIAN_ERR"])) + ensemble_err ** 2)
    good = np.isfinite(magnitude) & np.isfinite(rms) & (rms > 0)
    figure = agg_figure(7.5, 5.5, layout="constrained")
    ax = figure.subplots()
    ax.scatter(magnitude[good], rms[good], s=6, color="0.5", label="stars")
    known = good & np.isfinite(expected)
    if known.sum() > 4:
        _expected_by_bin(ax, magnitude[known], expected[known])
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
    plain_log_y(ax)
    label_axes(ax, with_unit("median instrumental magnitude", "mag"),
               with_unit("RMS of the differential light curve", "mag"), title)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    return save_png(figure, path, dpi=DPI)


def plot_finding_chart(stars, target, comparisons, check, reference, path, title):
    """The reference frame's ``stars`` (STAR_ID, X_REF, Y_REF, MAG_REF; size by
    brightness) with the rows ``target``, ``comparisons`` and ``check`` (-1: none)
    marked; ``reference`` names the frame."""
    from matplotlib.patches import Circle

    x, y = float_values(stars["X_REF"]), float_values(stars["Y_REF"])
    magnitude = float_values(stars["MAG_REF"])
    good = np.isfinite(x) & np.isfinite(y) & np.isfinite(magnitude)
    faint = np.nanpercentile(magnitude[good], 95) if good.any() else 0.0
    size = np.clip(4.0 * (faint - magnitude) + 2.0, 1.0, 120.0)
    figure = agg_figure(10, 6.5, layout="constrained")
    ax = figure.subplots()
    ax.scatter(x[good], y[good], s=size[good], color="k", linewidths=0)
    marks = [(target, "T", "darkorange", 16, (10, 10))]
    marks += [(c, f"C{i + 1}", "tab:green", 12, (8, 8)) for i, c in enumerate(comparisons)]
    if check >= 0:
        marks.append((check, "K", "tab:purple", 12, (-16, -18)))
    legend = []
    for row, text, colour, radius, offset in marks:
        ax.add_patch(Circle((x[row], y[row]), radius, fill=False, edgecolor=colour, lw=1.5))
        ax.annotate(text, (x[row], y[row]), xytext=offset, textcoords="offset points",
                    fontsize=9, color=colour, fontweight="bold",
                    bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "alpha": 0.8,
                          "edgecolor": "none"})
        legend.append(f"{text:>3} star {stars['STAR_ID'][row]:<5d} ({x[row]:.0f}, {y[row]:.0f})")
    ax.text(1.02, 1.0, "\n".join(["T target, C comparison,", "K check; (x, y) in pixels", ""]
                                 + legend), transform=ax.transAxes, va="top", fontsize=8,
            family="monospace")
    ax.set_aspect("equal")
    label_axes(ax, with_unit(f"x in reference frame {reference}", "pixel, FITS"),
               with_unit("y", "pixel, FITS"), title)
    return save_png(figure, path, dpi=DPI)
