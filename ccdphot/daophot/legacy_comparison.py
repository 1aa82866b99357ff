"""Agreement of a new PSF photometry with a legacy DAOPHOT II ALLSTAR list.

:func:`compare_to_legacy` matches the two lists by position and measures the
matched fraction, the magnitude offset and the robust scatter (overall and by
magnitude bin); :func:`ccdphot.plots.legacy_comparison.plot_legacy_comparison`
draws it. The legacy reduction itself is read and mapped by
:mod:`ccdphot.daophot.legacy`.
"""

import logging

import numpy as np
from astropy import units as u
from astropy.table import MaskedColumn, Table
from scipy.spatial import cKDTree

from ccdphot.errors import InputError

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
