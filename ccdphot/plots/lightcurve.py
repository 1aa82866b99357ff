"""Light-curve figures: a target's differential curve, and calibrated curves by series.

``target_lc.png`` of ``ccdphot lightcurve``: the raw differential magnitudes
with the trend, the detrended curve (and transit model, residuals). The
calibrated light curve, one colour and marker per telescope/filter series, is
drawn by one function for the combined ``target_lc.png`` of several series and
for the server's target page (which adds upper limits as open downward
triangles: the object is fainter than the mark). Magnitude axes point up for
brighter; times are BJD_TDB minus a whole day stated on the axis.
"""

import logging

import numpy as np

from ccdphot.plots.common import (agg_figure, float_values, label_axes, png_bytes, save_png,
                                  time_axis, with_unit)

log = logging.getLogger(__name__)

DPI = 110
MARKERS = ("o", "s", "D", "^", "P", "X", "h", "*")


def plot_target(lightcurve, path, title):
    """Raw DMAG with the trend, the detrended curve with the transit model, residuals."""
    t, label = time_axis(float_values(lightcurve["BJD_TDB"]))
    has_model = "TRANSIT_MODEL_MAG" in lightcurve.colnames
    panels = 3 if has_model else 2
    figure = agg_figure(8, 2.6 * panels + 0.6, layout="constrained")
    axes = figure.subplots(panels, 1, sharex=True)
    raw, err = float_values(lightcurve["DMAG"]), float_values(lightcurve["DMAG_ERR"])
    trend = float_values(lightcurve["TREND_MAG"])
    outlier = np.asarray(lightcurve["OUTLIER"], bool)
    axes[0].errorbar(t, raw, err, fmt="o", ms=3, color="k", ecolor="0.7", label="raw DMAG")
    order = np.argsort(t)
    model_raw = trend + (float_values(lightcurve["TRANSIT_MODEL_MAG"]) if has_model else 0.0)
    axes[0].plot(t[order], model_raw[order], color="tab:red",
                 label="trend + transit" if has_model else "trend")
    if outlier.any():
        axes[0].plot(t[outlier], raw[outlier], "x", color="tab:red", ms=8, label="outlier")
    axes[0].set_ylabel(with_unit("DMAG", "mag"))
    detrended = float_values(lightcurve["DMAG_DETRENDED"])
    axes[1].errorbar(t, detrended, err, fmt="o", ms=3, color="tab:blue", ecolor="0.75",
                     label="detrended")
    if has_model:
        model = float_values(lightcurve["TRANSIT_MODEL_MAG"])
        axes[1].plot(t[order], model[order], color="tab:red", label="transit model")
        axes[2].errorbar(t, detrended - model, err, fmt="o", ms=3, color="0.3", ecolor="0.8")
        axes[2].axhline(0.0, color="tab:red", lw=0.8)
        axes[2].set_ylabel(with_unit("residual", "mag"))
    axes[1].set_ylabel(with_unit("detrended DMAG", "mag"))
    for ax in axes:
        ax.invert_yaxis()
        ax.grid(alpha=0.3)
    for ax in axes[:2]:
        ax.legend(loc="best", fontsize=8)
    axes[-1].set_xlabel(label)
    axes[0].set_title(title, fontsize=10)
    return save_png(figure, path, dpi=DPI)


def _calibrated_figure(time, magnitude, error, groups, title, upper_limit=None, bands=()):
    """One series per distinct ``groups`` value, in order of first appearance;
    ``upper_limit`` marks rows that are limits, ``bands`` name the y axis."""
    from matplotlib import rcParams

    figure = agg_figure(9.0, 5.0, layout="constrained")
    axes = figure.add_subplot()
    usable = np.isfinite(time) & np.isfinite(magnitude)
    if not usable.any():
        axes.text(0.5, 0.5, "no calibrated point yet", ha="center", va="center",
                  transform=axes.transAxes, fontsize=14, color="0.4")
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_title(title)
        return figure
    t, time_label = time_axis(np.where(usable, time, np.nan))
    error = np.nan_to_num(error, nan=0.0)
    limit = np.zeros(len(t), bool) if upper_limit is None else np.asarray(upper_limit, bool)
    colours = rcParams["axes.prop_cycle"].by_key()["color"]
    groups = np.asarray(groups)
    for index, group in enumerate(dict.fromkeys(groups.tolist())):
        rows = groups == group
        colour = colours[index % len(colours)]
        detected = rows & usable & ~limit
        limits = rows & usable & limit
        if detected.any():
            axes.errorbar(t[detected], magnitude[detected], yerr=error[detected],
                          fmt=MARKERS[index % len(MARKERS)], color=colour, ms=5, capsize=2,
                          lw=1, label=f"{group} ({detected.sum()})")
        if limits.any():
            axes.plot(t[limits], magnitude[limits], "v", mfc="none", mec=colour, ms=8,
                      label=f"{group}: upper limit ({limits.sum()})")
    axes.invert_yaxis()
    band_text = f" ({', '.join(bands)})" if bands else ""
    label_axes(axes, time_label, with_unit(f"calibrated magnitude{band_text}", "mag"), title)
    axes.ticklabel_format(axis="x", useOffset=False)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="best", frameon=True)
    return figure


def plot_multi(combined, path, title):
    """The combined light curve of several series (BJD_TDB, MAG_CAL_ENS, DMAG_ERR, GROUP)."""
    figure = _calibrated_figure(float_values(combined["BJD_TDB"]),
                                float_values(combined["MAG_CAL_ENS"]),
                                float_values(combined["DMAG_ERR"]),
                                np.asarray(combined["GROUP"]).astype(str), title)
    return save_png(figure, path, dpi=DPI)


def plot_lightcurve(table, title):
    """PNG bytes of a target's light curve (BJD_TDB, MAG_CAL, MAGERR_CAL, TELESCOPE,
    BAND, IS_UPPER_LIMIT: the server's light-curve table), one series per
    telescope and band, upper limits marked."""
    groups = [f"{telescope} - {band or 'no band'}"
              for telescope, band in zip(table["TELESCOPE"], table["BAND"])]
    time, magnitude = float_values(table["BJD_TDB"]), float_values(table["MAG_CAL"])
    usable = np.isfinite(time) & np.isfinite(magnitude)
    bands = sorted({str(b) for b in np.asarray(table["BAND"])[usable] if str(b)})
    figure = _calibrated_figure(time, magnitude, float_values(table["MAGERR_CAL"]), groups,
                                title, upper_limit=table["IS_UPPER_LIMIT"],
                                bands=bands or ["band unknown"])
    return png_bytes(figure, dpi=100)
