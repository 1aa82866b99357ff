"""``batch_summary.png``: per-step timings, seeing and zero point of a batch over the night.

Drawn from the summary table alone. The x axis is the time since the first frame
(UTC, mid-exposure JD; minutes under two hours, else hours) when every frame has a
time and they span less than two days; otherwise the frames in batch order.
"""

import logging
from pathlib import Path

import numpy as np
from astropy.time import Time

from ccdphot.batch.resume import status_is_ok
from ccdphot.batch.summary import TIMED_STEPS
from ccdphot.products import atomic_target

log = logging.getLogger(__name__)

PLOT_NAME = "batch_summary.png"
_NIGHT_SPAN_D = 2.0
_STEP_COLOURS = ("#999999", "#1f77b4", "#aec7e8", "#ff7f0e", "#2ca02c", "#d62728",
                 "#9467bd", "#8c564b", "#e377c2")


def _values(table, name):
    """A float array of column ``name`` with NaN where masked."""
    column = table[name]
    return np.ma.filled(np.ma.asarray(column, dtype=float), np.nan)


def _x_axis(table):
    jd = _values(table, "jd_utc_mid")
    if len(jd) and np.all(np.isfinite(jd)) and np.ptp(jd) < _NIGHT_SPAN_D:
        start = Time(jd.min(), format="jd", scale="utc").strftime("%Y-%m-%d %H:%M")
        hours = (jd - jd.min()) * 24.0
        if hours.max() < 2.0:
            return hours * 60.0, f"time since {start} UTC (min)"
        return hours, f"time since {start} UTC (h)"
    return np.arange(len(table), dtype=float), "frame (batch order)"


def _bar_width(x):
    steps = np.diff(np.unique(x))
    return 0.8 * (steps.min() if len(steps) else 1.0)


def _timings(ax, table, x):
    bottom = np.zeros(len(table))
    width = _bar_width(x)
    for name, colour in zip(TIMED_STEPS, _STEP_COLOURS):
        seconds = np.nan_to_num(_values(table, f"{name}_s"))
        if seconds.any():
            ax.bar(x, seconds, width, bottom=bottom, color=colour, label=name)
            bottom += seconds
    ax.set_ylabel("time per step (s)")
    if bottom.any():
        ax.legend(ncol=5, fontsize="small", loc="upper left", frameon=False)
    ax.set_ylim(0, max(bottom.max(), 1.0) * 1.45)


def _seeing(ax, table, x):
    arcsec = _values(table, "seeing_fwhm_arcsec")
    if np.isfinite(arcsec).any():
        values, label = arcsec, "seeing FWHM (arcsec)"
    else:
        values, label = _values(table, "seeing_fwhm_pix"), "seeing FWHM (pix)"
    ax.plot(x, values, "o", color="#1f77b4", markersize=4)
    ax.set_ylabel(label)
    if not np.isfinite(values).any():
        ax.text(0.5, 0.5, "no seeing measured", transform=ax.transAxes, ha="center")
        ax.set_yticks([])


def _zero_point(ax, table, x):
    zp = _values(table, "zp_mag")
    error = _values(table, "zp_error_mag")
    ax.errorbar(x, zp, yerr=np.nan_to_num(error), fmt="o", color="#2ca02c", markersize=4,
                capsize=2)
    ax.set_ylabel("zero point (mag)")
    if np.isfinite(zp).any():
        ax.invert_yaxis()
    else:
        ax.text(0.5, 0.5, "no zero point (zeropoint step skipped or not run)",
                transform=ax.transAxes, ha="center")
        ax.set_yticks([])


def plot_summary(table, path):
    """Draw the summary figure of ``table`` into ``path`` (PNG, written atomically)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 8.5))
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, 1, sharex=True)
    x, x_label = _x_axis(table)
    _timings(axes[0], table, x)
    _seeing(axes[1], table, x)
    _zero_point(axes[2], table, x)
    failed = np.array([not status_is_ok(str(s)) for s in table["status"]], bool)
    for ax in axes:
        ax.grid(alpha=0.3)
        for x_failed in x[failed]:
            ax.axvline(x_failed, color="#d62728", alpha=0.25, linewidth=3)
    axes[-1].set_xlabel(x_label)
    n_ok = int(table.meta.get("N_OK", 0))
    fig.suptitle(f"ccdphot batch: {len(table)} frames, {n_ok} ok, {len(table) - n_ok} not ok"
                 + (" (red bands)" if failed.any() else ""))
    fig.tight_layout()
    with atomic_target(Path(path)) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return Path(path)
