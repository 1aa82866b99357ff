"""``batch_summary.png``: per-step timings, seeing and zero point of a batch over the night.

Drawn from the summary table alone. The x axis is the time since the first frame
(UTC, mid-exposure JD; minutes under two hours, else hours) when every frame has a
time and they span less than two days; otherwise the frames in batch order. Frames
that are not ok are marked by red bands.
"""

import logging

import numpy as np
from astropy.time import Time

from ccdphot.plots.common import agg_figure, float_values, save_png, with_unit

log = logging.getLogger(__name__)

_NIGHT_SPAN_D = 2.0
_STEP_COLOURS = ("#999999", "#1f77b4", "#aec7e8", "#ff7f0e", "#2ca02c", "#d62728",
                 "#9467bd", "#8c564b", "#e377c2")


def _x_axis(table):
    jd = float_values(table["jd_utc_mid"])
    if len(jd) and np.all(np.isfinite(jd)) and np.ptp(jd) < _NIGHT_SPAN_D:
        start = Time(jd.min(), format="jd", scale="utc").strftime("%Y-%m-%d %H:%M")
        hours = (jd - jd.min()) * 24.0
        if hours.max() < 2.0:
            return hours * 60.0, with_unit(f"time since {start} UTC", "min")
        return hours, with_unit(f"time since {start} UTC", "h")
    return np.arange(len(table), dtype=float), "frame (batch order)"


def _bar_width(x):
    steps = np.diff(np.unique(x))
    return 0.8 * (steps.min() if len(steps) else 1.0)


def _timings(ax, table, x, steps):
    bottom = np.zeros(len(table))
    width = _bar_width(x)
    for name, colour in zip(steps, _STEP_COLOURS):
        seconds = np.nan_to_num(float_values(table[f"{name}_s"]))
        if seconds.any():
            ax.bar(x, seconds, width, bottom=bottom, color=colour, label=name)
            bottom += seconds
    ax.set_ylabel(with_unit("time per step", "s"))
    if bottom.any():
        ax.legend(ncol=5, fontsize="small", loc="upper left", frameon=False)
    ax.set_ylim(0, max(bottom.max(), 1.0) * 1.45)


def _seeing(ax, table, x):
    arcsec = float_values(table["seeing_fwhm_arcsec"])
    if np.isfinite(arcsec).any():
        values, label = arcsec, with_unit("seeing FWHM", "arcsec")
    else:
        values, label = float_values(table["seeing_fwhm_pix"]), with_unit("seeing FWHM", "pix")
    ax.plot(x, values, "o", color="#1f77b4", markersize=4)
    ax.set_ylabel(label)
    if not np.isfinite(values).any():
        ax.text(0.5, 0.5, "no seeing measured", transform=ax.transAxes, ha="center")
        ax.set_yticks([])


def _zero_point(ax, table, x):
    zp = float_values(table["zp_mag"])
    error = float_values(table["zp_error_mag"])
    ax.errorbar(x, zp, yerr=np.nan_to_num(error), fmt="o", color="#2ca02c", markersize=4,
                capsize=2)
    ax.set_ylabel(with_unit("zero point", "mag"))
    if np.isfinite(zp).any():
        ax.invert_yaxis()
    else:
        ax.text(0.5, 0.5, "no zero point (zeropoint step skipped or not run)",
                transform=ax.transAxes, ha="center")
        ax.set_yticks([])


def plot_batch_summary(table, path, steps, failed):
    """Draw the summary figure of ``table`` into ``path``; ``steps`` name the timing
    columns ``<step>_s`` in order, ``failed`` marks the rows of frames not ok."""
    fig = agg_figure(9, 8.5)
    axes = fig.subplots(3, 1, sharex=True)
    x, x_label = _x_axis(table)
    _timings(axes[0], table, x, steps)
    _seeing(axes[1], table, x)
    _zero_point(axes[2], table, x)
    failed = np.asarray(failed, bool)
    for ax in axes:
        ax.grid(alpha=0.3)
        for x_failed in x[failed]:
            ax.axvline(x_failed, color="#d62728", alpha=0.25, linewidth=3)
    axes[-1].set_xlabel(x_label)
    n_ok = int(table.meta.get("N_OK", 0))
    fig.suptitle(f"ccdphot batch: {len(table)} frames, {n_ok} ok, {len(table) - n_ok} not ok"
                 + (" (red bands)" if failed.any() else ""))
    fig.tight_layout()
    return save_png(fig, path, dpi=100)
