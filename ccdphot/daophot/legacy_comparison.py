"""Agreement of a new PSF photometry with a legacy DAOPHOT II ALLSTAR list.

:func:`compare_to_legacy` matches the two lists by position and measures the
matched fraction, the magnitude offset and the robust scatter (overall and by
magnitude bin); :func:`plot_legacy_comparison` draws it. The legacy
reduction itself is read and mapped by :mod:`ccdphot.legacy`.
"""

import logging
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.table import MaskedColumn, Table
from scipy.spatial import cKDTree

from ccdphot.errors import InputError
from ccdphot.products import atomic_target

log = logging.getLogger(__name__)

PRECISE_ERR_MAG = 0.02
TARGET_MATCHED_FRACTION = 0.95
TARGET_SCATTER_MAG = 0.02

def _columns(table, choices, what):
    for names in choices:
        if all(n in table.colnames for n in names):
            return names
    raise InputError(f"{what} table lacks the columns {' or '.join('/'.join(c) for c in choices)}")


def _values(table, name):
    col = table[name]
    data = np.asarray(np.ma.getdata(col), dtype=float)
    return np.where(np.ma.getmaskarray(col), np.nan, data)


def _robust_sigma(values):
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return float("nan")
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def compare_to_legacy(measured, legacy_als, match_radius_pix=0.5, precise_err_mag=PRECISE_ERR_MAG,
                      outlier_nsigma=5.0, mag_bin_mag=1.0):
    """Match a new PSF photometry to a legacy ALLSTAR list and measure the agreement.

    ``measured`` has X_PSF/Y_PSF/MAG_PSF/MAGERR_PSF (the unified table, ids in
    NUMBER) or X/Y/MAG/MERR (ids in ID); ``legacy_als`` has X, Y, MAG and MERR
    (or ERR). Stars are paired when each is the other's nearest neighbour and
    they lie within ``match_radius_pix``.

    Returns (table, summary). The table has one row per legacy star:
    LEGACY_ID, X/Y/MAG/MERR_LEGACY, ID, X/Y/MAG/MERR (measured, masked if
    unmatched), DX_PIX, DY_PIX, DIST_PIX, DMAG (measured - legacy), MATCHED,
    PRECISE (legacy error < ``precise_err_mag``), OUTLIER. The summary holds
    matched_fraction, median_dmag_mag (the offset, from the precise stars),
    robust_scatter_mag (1.4826 MAD of the offset-corrected DMAG of matched
    precise stars), median_dx_pix/median_dy_pix, the per-bin figures
    (``bins``: Table MAG_LO, MAG_HI, N, MEDIAN_DMAG, ROBUST_SCATTER_MAG) and
    the outliers: |DMAG - offset| > ``outlier_nsigma`` x the quadratic sum of
    both errors and the robust scatter. ``table.meta['legacy_comparison']``
    carries the summary (bins as rows), ready for ECSV.
    """
    mx, my, mmag, merr = _columns(measured, (("X_PSF", "Y_PSF", "MAG_PSF", "MAGERR_PSF"),
                                             ("X", "Y", "MAG", "MERR")), "measured")
    mid = "NUMBER" if "NUMBER" in measured.colnames else ("ID" if "ID" in measured.colnames
                                                          else None)
    lx, ly, lmag, lerr = _columns(legacy_als, (("X", "Y", "MAG", "MERR"), ("X", "Y", "MAG", "ERR")),
                                  "legacy ALLSTAR")
    m_xy = np.column_stack([_values(measured, mx), _values(measured, my)])
    l_xy = np.column_stack([_values(legacy_als, lx), _values(legacy_als, ly)])
    m_ok = np.isfinite(m_xy).all(axis=1)
    l_ok = np.isfinite(l_xy).all(axis=1)
    n_leg = len(legacy_als)
    match = np.full(n_leg, -1)
    dist = np.full(n_leg, np.nan)
    if m_ok.any() and l_ok.any():
        m_index = np.flatnonzero(m_ok)
        tree = cKDTree(m_xy[m_ok])
        d_lm, j = tree.query(l_xy[l_ok], k=1)
        back = cKDTree(l_xy[l_ok]).query(m_xy[m_ok][j], k=1)[1]
        leg_index = np.flatnonzero(l_ok)
        mutual = (back == np.arange(len(j))) & (d_lm <= match_radius_pix)
        match[leg_index[mutual]] = m_index[j[mutual]]
        dist[leg_index[mutual]] = d_lm[mutual]
    matched = match >= 0
    pick = np.where(matched, match, 0)

    def measured_col(name, unit=None):
        if unit is None:  # the id column
            return MaskedColumn(np.where(matched, np.asarray(measured[name])[pick], 0),
                                mask=~matched)
        data = np.where(matched, _values(measured, name)[pick], np.nan)
        return MaskedColumn(np.nan_to_num(data), mask=np.isnan(data), unit=unit)

    table = Table(masked=True)
    table["LEGACY_ID"] = np.asarray(legacy_als["ID"]) if "ID" in legacy_als.colnames \
        else np.arange(1, n_leg + 1)
    table["X_LEGACY"] = MaskedColumn(l_xy[:, 0], unit=u.pix)
    table["Y_LEGACY"] = MaskedColumn(l_xy[:, 1], unit=u.pix)
    leg_mag, leg_err = _values(legacy_als, lmag), _values(legacy_als, lerr)
    table["MAG_LEGACY"] = MaskedColumn(leg_mag, mask=~np.isfinite(leg_mag), unit=u.mag)
    table["MERR_LEGACY"] = MaskedColumn(leg_err, mask=~np.isfinite(leg_err), unit=u.mag)
    if mid:
        table["ID"] = measured_col(mid)
    table["X"] = measured_col(mx, u.pix)
    table["Y"] = measured_col(my, u.pix)
    table["MAG"] = measured_col(mmag, u.mag)
    table["MERR"] = measured_col(merr, u.mag)
    dx = np.where(matched, m_xy[pick, 0] - l_xy[:, 0], np.nan)
    dy = np.where(matched, m_xy[pick, 1] - l_xy[:, 1], np.nan)
    dmag = np.where(matched, _values(measured, mmag)[pick] - leg_mag, np.nan)
    for name, values, unit in (("DX_PIX", dx, u.pix), ("DY_PIX", dy, u.pix),
                               ("DIST_PIX", dist, u.pix), ("DMAG", dmag, u.mag)):
        table[name] = MaskedColumn(np.nan_to_num(values), mask=~np.isfinite(values), unit=unit)
    precise = np.isfinite(leg_err) & (leg_err < precise_err_mag)
    good = np.isfinite(dmag)
    offset_set = good & precise if (good & precise).sum() >= 5 else good
    offset = float(np.median(dmag[offset_set])) if offset_set.any() else float("nan")
    scatter = _robust_sigma(dmag[good & precise] - offset)
    meas_err = _values(measured, merr)[pick]
    tolerance = outlier_nsigma * np.sqrt(np.nan_to_num(leg_err) ** 2
                                         + np.nan_to_num(meas_err) ** 2
                                         + (0.0 if np.isnan(scatter) else scatter) ** 2)
    outlier = good & (np.abs(dmag - offset) > tolerance)
    table["MATCHED"] = matched
    table["PRECISE"] = precise
    table["OUTLIER"] = outlier

    bins = _bins(leg_mag, dmag - offset, good, precise, mag_bin_mag)
    n_valid = int(l_ok.sum())
    summary = {
        "n_legacy": n_leg,
        "n_measured": int(m_ok.sum()),
        "n_matched": int(matched.sum()),
        "match_radius_pix": float(match_radius_pix),
        "matched_fraction": float(matched.sum() / n_valid) if n_valid else float("nan"),
        "median_dx_pix": float(np.median(dx[good])) if good.any() else float("nan"),
        "median_dy_pix": float(np.median(dy[good])) if good.any() else float("nan"),
        "median_dmag_mag": offset,
        "precise_err_mag": float(precise_err_mag),
        "n_precise_matched": int((good & precise).sum()),
        "robust_scatter_mag": scatter,
        "robust_scatter_all_mag": _robust_sigma(dmag[good] - offset),
        "n_outliers": int(outlier.sum()),
        "outlier_ids": [int(i) for i in np.asarray(table["LEGACY_ID"])[outlier]],
        "target_matched_fraction": TARGET_MATCHED_FRACTION,
        "target_scatter_mag": TARGET_SCATTER_MAG,
        "bins": bins,
    }
    summary["meets_match_target"] = bool(summary["matched_fraction"] >= TARGET_MATCHED_FRACTION)
    summary["meets_scatter_target"] = bool(scatter <= TARGET_SCATTER_MAG)
    meta = {k: v for k, v in summary.items() if k != "bins"}
    meta["bins"] = [dict(zip(bins.colnames, (float(v) if isinstance(v, np.floating) else int(v)
                                             for v in row))) for row in bins]
    table.meta["legacy_comparison"] = meta
    log.info("legacy comparison: %d/%d matched within %.2f pix (%.1f %%), offset %.4f mag, "
             "robust scatter %.4f mag (%d stars with legacy error < %.2f), %d outliers",
             summary["n_matched"], n_valid, match_radius_pix,
             100 * summary["matched_fraction"], offset, scatter,
             summary["n_precise_matched"], precise_err_mag, summary["n_outliers"])
    return table, summary


def _bins(mag, dmag, good, precise, width):
    """Robust scatter of the offset-corrected DMAG per legacy-magnitude bin."""
    rows = []
    use = good & np.isfinite(mag)
    if use.any():
        lo = np.floor(np.nanmin(mag[use]) / width) * width
        hi = np.nanmax(mag[use])
        edge = lo
        while edge <= hi:
            inside = use & (mag >= edge) & (mag < edge + width)
            if inside.any():
                rows.append((edge, edge + width, int(inside.sum()),
                             int((inside & precise).sum()), float(np.median(dmag[inside])),
                             _robust_sigma(dmag[inside])))
            edge += width
    table = Table(rows=rows or None,
                  names=("MAG_LO", "MAG_HI", "N", "N_PRECISE", "MEDIAN_DMAG",
                         "ROBUST_SCATTER_MAG"),
                  dtype=(float, float, int, int, float, float))
    for name in ("MAG_LO", "MAG_HI", "MEDIAN_DMAG", "ROBUST_SCATTER_MAG"):
        table[name].unit = u.mag
    return table


def plot_legacy_comparison(table, summary, path):
    """Draw the comparison (DMAG against legacy magnitude, binned scatter, and
    position differences) into a PNG at ``path``, written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle

    path = Path(path)
    fig = Figure(figsize=(11, 4.2))
    FigureCanvasAgg(fig)
    ax_mag, ax_bin, ax_xy = fig.subplots(1, 3)
    matched = np.asarray(table["MATCHED"], bool)
    outlier = np.asarray(table["OUTLIER"], bool)
    precise = np.asarray(table["PRECISE"], bool)
    mag = np.asarray(np.ma.getdata(table["MAG_LEGACY"]), float)
    dmag = np.asarray(np.ma.getdata(table["DMAG"]), float) - summary["median_dmag_mag"]
    normal = matched & ~outlier
    ax_mag.plot(mag[normal & ~precise], dmag[normal & ~precise], ".", ms=2, color="0.6",
                label="matched")
    ax_mag.plot(mag[normal & precise], dmag[normal & precise], ".", ms=3, color="C0",
                label=f"legacy error < {summary['precise_err_mag']:g} mag")
    # outliers beyond the plotted range are drawn on its edge
    ax_mag.plot(mag[outlier], np.clip(dmag[outlier], -0.49, 0.49), "x", ms=4, color="C3",
                label=f"outliers ({summary['n_outliers']})")
    ax_mag.axhline(0.0, color="k", lw=0.8)
    ax_mag.set_ylim(-0.5, 0.5)
    ax_mag.set_xlabel("legacy ALLSTAR magnitude [mag]")
    ax_mag.set_ylabel(f"Δmag − offset ({summary['median_dmag_mag']:+.4f}) [mag]")
    ax_mag.legend(fontsize=7, loc="upper left")
    bins = summary["bins"]
    if len(bins):
        centre = 0.5 * (np.asarray(bins["MAG_LO"]) + np.asarray(bins["MAG_HI"]))
        ax_bin.plot(centre, bins["ROBUST_SCATTER_MAG"], "o-", color="C0")
    ax_bin.axhline(summary["target_scatter_mag"], color="C3", ls="--", lw=0.8,
                   label=f"target {summary['target_scatter_mag']:g} mag")
    ax_bin.set_yscale("log")
    ax_bin.set_xlabel("legacy ALLSTAR magnitude [mag]")
    ax_bin.set_ylabel("robust scatter 1.4826·MAD of Δmag [mag]")
    ax_bin.legend(fontsize=7)
    dx = np.asarray(np.ma.getdata(table["DX_PIX"]), float)
    dy = np.asarray(np.ma.getdata(table["DY_PIX"]), float)
    ax_xy.plot(dx[matched], dy[matched], ".", ms=2, color="C0")
    radius = summary["match_radius_pix"]
    ax_xy.add_patch(Circle((0, 0), radius, fill=False, color="C3", lw=0.8))
    ax_xy.set_xlim(-radius * 1.1, radius * 1.1)
    ax_xy.set_ylim(-radius * 1.1, radius * 1.1)
    ax_xy.set_aspect("equal")
    ax_xy.set_xlabel("Δx [pix]")
    ax_xy.set_ylabel("Δy [pix]")
    fig.suptitle(f"{summary['n_matched']}/{summary['n_legacy']} legacy stars matched within "
                 f"{radius:g} pix ({100 * summary['matched_fraction']:.1f} %), robust scatter "
                 f"{summary['robust_scatter_mag']:.4f} mag ({summary['n_precise_matched']} stars)",
                 fontsize=9)
    fig.tight_layout()
    with atomic_target(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return path
