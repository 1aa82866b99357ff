"""The VARTOOLS reference cases (../shared/data/vartools/reference) as native calls.

Shared by tests/test_periods_agreement.py (which asserts the agreement) and
benchmarks/periods_agreement.py (which prints the table for the docs). Each case
function returns {Name: {column: native value}} for the columns of that case's
stdout.txt that the native engine computes; ``KNOWN`` lists the columns that
differ on purpose, with the reason.
"""

import re

import numpy as np

from ccdphot.periods import statistics as st
from ccdphot.periods.aov import aov, aov_harm
from ccdphot.periods.bls import bls
from ccdphot.periods.fourier import fit_fourier, fourier_columns
from ccdphot.periods.lightcurve import read_lightcurve
from ccdphot.periods.lombscargle import lomb_scargle
from ccdphot.wrappers.vartools import parse_stdout

LIST_LS = ("1", "2", "3", "4", "5", "6", "7", "9")
LIST_ALL = tuple(str(i) for i in range(1, 11))

# column-name fragment -> why VARTOOLS and the native engine differ there
KNOWN = {
    ("stats_3", "KURTOSIS"): "VARTOOLS sums raw powers x^4 in double precision: with mean "
                             "10.17 mag and sigma 0.005 mag ~12 digits cancel; native uses "
                             "central moments",
    ("stats_3", "SKEWNESS"): "same cancellation as the kurtosis (raw x^3 sums)",
    ("aov_harm_2", "_2_0"): "VARTOOLS 1.51 -aov_harm whiten evaluates the whitened "
                            "periodograms on a grid shifted by the previous peak's refinement "
                            "window; native = VARTOOLS's own -Killharm + -aov_harm",
    ("aov_harm_2", "Mean_AOV_HARM_1_0"): "whitened periodogram, as above",
    ("aov_harm_2", "RMS_AOV_HARM_1_0"): "whitened periodogram, as above",
    ("aov_harm_2", "AOV_HARM_SNR_1_0"): "SNR on the whitened periodogram, as above",
    ("bls_3transit", "BLS_Tc"): "fittrap (trapezoid refinement) is not in the native engine",
    ("bls_3transit", "BLS_Depth"): "fittrap refinement",
    ("bls_3transit", "BLS_Qtran"): "fittrap refinement",
    ("bls_3transit", "BLS_i1"): "fittrap refinement",
    ("bls_3transit", "BLS_i2"): "fittrap refinement",
    ("bls_3transit", "BLS_Npoints"): "counted in the fittrap box",
    ("bls_3transit_header", "BLS_SN_"): "without nobinnedrms VARTOOLS subtracts a running "
                                        "binned mean of the spectrum; native uses the "
                                        "nobinnedrms definition",
}


def _lc(data_dir, name):
    return read_lightcurve(data_dir / "lc" / name)


def _stdout(data_dir, case):
    table = parse_stdout((data_dir / "reference" / case / "stdout.txt").read_text())
    return {str(row["Name"]).split("/")[-1]: {n: row[n] for n in table.colnames[1:]}
            for row in table}


def _chain_killharm_2(lc):
    ls, _ = lomb_scargle(lc, 0.1, 10.0, 0.1, 1)
    period = ls["LS_Period_1_0"]
    fit = fit_fourier(lc["t"], lc["mag"], lc["err"], period, 0)
    w = 1.0 / np.square(lc["err"])
    cleaned = lc.copy()
    cleaned["mag"] = lc["mag"] - fit.model(lc["t"]) + np.sum(w * lc["mag"]) / np.sum(w)
    return {**ls, **st.rms(lc, 1), **st.chi2(lc, 2), **fourier_columns(fit, 3, "sincos"),
            **st.rms(cleaned, 4), **st.chi2(cleaned, 5)}


def _chain_medianfilter(lc):
    high = st.median_filter(lc, 0.05)
    low = st.median_filter(lc, 0.05, replace=True)
    return {**st.chi2(lc, 0), **st.chi2(high, 3), **st.chi2(low, 7)}


def _chain_clip(lc):
    clipped, removed = st.sigma_clip(lc, 3.0, True)
    return {**st.rms(lc, 0), "Nclip_1": removed, **st.rms(clipped, 2)}


def _chain_m3_aov(lc):
    harm, _ = aov_harm(lc, 4, 0.2, 2.0, 0.1, 0.01, 1)
    fit = fit_fourier(lc["t"], lc["mag"], lc["err"], harm["Period_1_0"], 4)
    return {**harm, **fourier_columns(fit, 1, "ampphase")}


STATS_3 = ("mean,weightedmean,median,stddev,meddev,medmeddev,MAD,kurtosis,skewness,pct10,"
           "pct20,pct80,pct90,max,min,sum").split(",")

CASES = {
    "rms_list": lambda d: {n: st.rms(_lc(d, n)) for n in LIST_ALL},
    "chi2_list": lambda d: {n: st.chi2(_lc(d, n)) for n in LIST_ALL},
    "stats_3": lambda d: {"3": st.stats(_lc(d, "3"), ["mag"], STATS_3)},
    "stats_list": lambda d: {n: st.stats(_lc(d, n), ["t", "mag"],
                                         ["min", "max", "mean", "median", "stddev", "MAD"])
                             for n in LIST_ALL},
    "ls_2": lambda d: {"2": lomb_scargle(_lc(d, "2"), 0.1, 10.0, 0.1, 5, whiten=True)[0]},
    "ls_4": lambda d: {"4": lomb_scargle(_lc(d, "4"), 0.1, 30.0, 0.1, 3)[0]},
    "ls_list": lambda d: {n: lomb_scargle(_lc(d, n), 0.1, 100.0, 0.1, 1)[0] for n in LIST_LS},
    "binlc_phase_2": lambda d: {"2": lomb_scargle(_lc(d, "2"), 0.1, 10.0, 0.1, 1)[0]},
    "aov_2": lambda d: {"2": aov(_lc(d, "2"), 0.1, 10.0, 0.1, 0.01, 5, nbin=20, whiten=True)[0]},
    "aov_harm_2": lambda d: {"2": aov_harm(_lc(d, "2"), 1, 0.1, 10.0, 0.1, 0.01, 2,
                                           whiten=True)[0]},
    "killharm_M3_aov": lambda d: {"M3.V006.lc": _chain_m3_aov(_lc(d, "M3.V006.lc"))},
    "killharm_M3_fix": lambda d: {"M3.V006.lc": fourier_columns(fit_fourier(
        *(_lc(d, "M3.V006.lc")[c] for c in ("t", "mag", "err")), 0.514333, 10), 0, "Rphi")},
    "killharm_2": lambda d: {"2": _chain_killharm_2(_lc(d, "2"))},
    "bls_3transit": lambda d: {"3.transit": bls(_lc(d, "3.transit"), 0.01, 0.1, 0.1, 20.0,
                                                100000, 200)[0]},
    "bls_3transit_header": lambda d: {"3.transit": bls(_lc(d, "3.transit"), 0.01, 0.1, 0.5,
                                                       5.0, 20000, 200)[0]},
    "clip_5": lambda d: {"5": _chain_clip(_lc(d, "5"))},
    "medianfilter_1": lambda d: {"1": _chain_medianfilter(_lc(d, "1"))},
    "blsfixper_3transit": lambda d: {"3.transit": {**st.rms(_lc(d, "3.transit"), 0)}},
}
# Not computed natively: decorr_list (-decorr, polynomial detrending) and the BLSFixPer
# columns of blsfixper_3transit; binlc_2 / binlc_phase_2 compare output light curves.
OUTPUT_LIGHTCURVES = {
    "binlc_2": ("2.bin.txt", lambda d: st.bin_lightcurve(_lc(d, "2"), binsize=0.01,
                                                          method="median")),
    "binlc_phase_2": ("2.phasebin.txt", lambda d: st.bin_lightcurve(
        st.fold(_lc(d, "2"), lomb_scargle(_lc(d, "2"), 0.1, 10.0, 0.1, 1)[0]["LS_Period_1_0"]),
        nbins=100, method="median")),
    "clip_5": ("5.clip.txt", lambda d: st.sigma_clip(_lc(d, "5"), 3.0, True)[0]),
}


def kind(column):
    """How a column is compared: period, time, fourier, statistic or figure."""
    if "Period" in column and "Periodogram" not in column:
        return "period"
    if "_Tc_" in column:
        return "time"
    if column.startswith("Killharm"):
        return "fourier"
    if re.match(r"(STATS_|Mean_Mag_|RMS_\d|Expected_RMS_|Npoints_|Chi2_|Weighted_Mean_|Nclip_)",
                column):
        return "statistic"
    return "figure"


def tolerance(column, reference):
    """Allowed |native - VARTOOLS|: the issue's limits (a transit time to 1e-3 d), never
    below VARTOOLS's print precision."""
    printed = 6e-6  # VARTOOLS prints most figures with 5 decimals
    limits = {"period": 1e-4 * abs(reference), "time": 1e-3, "fourier": 1e-3,
              "statistic": 1e-6 * abs(reference), "figure": 1e-3 * abs(reference)}
    return max(printed, limits[kind(column)])


def known_difference(case, column):
    return next((why for (c, fragment), why in KNOWN.items()
                 if c == case and fragment in column), "")


def compare(data_dir, case):
    """Rows (case, lc, column, VARTOOLS, native, ok, note) for one reference case."""
    reference = _stdout(data_dir, case)
    native = CASES[case](data_dir)
    rows = []
    for name, columns in native.items():
        for column, value in columns.items():
            if column not in reference[name]:
                continue
            expected = float(reference[name][column])
            value = float(value)
            if np.isnan(value):  # a figure the native engine does not compute
                continue
            note = known_difference(case, column)
            ok = abs(value - expected) <= tolerance(column, expected)
            rows.append((case, name, column, expected, value, ok, note))
    return rows
