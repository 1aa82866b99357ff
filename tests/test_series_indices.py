"""Variability indices against values computed independently, star by star, with loops."""

import math

import numpy as np
import pytest
from astropy.stats import median_absolute_deviation
from scipy import stats

from ccdphot.series.indices import rank_candidates, variability_indices

# 3 stars x 8 frames; star 1 misses two frames, star 2 is a slow trend
MAG = np.array([
    [10.00, 12.10, 14.00],
    [10.02, np.nan, 14.05],
    [9.98, 12.00, 14.10],
    [10.01, 12.20, 14.15],
    [9.99, np.nan, 14.22],
    [10.03, 11.90, 14.30],
    [9.97, 12.05, 14.33],
    [10.00, 12.15, 14.41],
])
ERR = np.array([[0.01, 0.05, 0.02]] * 8) * np.array([1, 1.2, 0.8, 1, 1.1, 0.9, 1, 1])[:, None]
TIME = np.array([0.0, 0.01, 0.5, 0.51, 1.0, 1.01, 1.5, 1.6])


def _star(j):
    good = np.isfinite(MAG[:, j])
    return MAG[good, j], ERR[good, j], np.flatnonzero(good)


def _hand(j, max_pair_days):
    m, e, rows = _star(j)
    n = len(m)
    w = 1 / e ** 2
    mean_w = sum(w * m) / sum(w)
    chi2 = sum(((m - mean_w) / e) ** 2) / (n - 1)
    mean = sum(m) / n
    variance = sum((m - mean) ** 2) / (n - 1)
    delta2 = sum((m[i + 1] - m[i]) ** 2 for i in range(n - 1)) / (n - 1)
    delta = [math.sqrt(n / (n - 1)) * (m[i] - mean_w) / e[i] for i in range(n)]
    # Stetson J: frames (0,1), (2,3)... pair when both present and close in time
    by_row = dict(zip(rows, delta))
    terms = []
    for first in range(0, len(MAG), 2):
        a, b = by_row.get(first), by_row.get(first + 1)
        if a is not None and b is not None and TIME[first + 1] - TIME[first] <= max_pair_days:
            terms.append(a * b)
        else:
            terms += [d * d - 1 for d in (a, b) if d is not None]
    j_index = sum(math.copysign(math.sqrt(abs(p)), p) for p in terms) / len(terms)
    k_index = (sum(abs(d) for d in delta) / n) / math.sqrt(sum(d * d for d in delta) / n)
    return {"CHI2_RED": chi2, "ETA_INV": variance / delta2, "STETSON_J": j_index,
            "STETSON_K": k_index, "RMS_MAG": math.sqrt(variance)}


@pytest.mark.parametrize("max_pair_days", [0.05, 0.001])
def test_indices_match_hand_computed_values(max_pair_days):
    table = variability_indices(MAG, ERR, TIME, max_pair_days=max_pair_days)
    for j in range(3):
        m, _, _ = _star(j)
        expected = _hand(j, max_pair_days)
        assert table["N_POINTS"][j] == len(m)
        for name, value in expected.items():
            assert float(table[name][j]) == pytest.approx(value, rel=1e-10), (name, j)
        assert float(table["IQR_MAG"][j]) == pytest.approx(stats.iqr(m), rel=1e-12)
        assert float(table["MAD_MAG"][j]) == pytest.approx(median_absolute_deviation(m),
                                                           rel=1e-12)
        assert float(table["MEDIAN_MAG"][j]) == pytest.approx(np.median(m))


def test_a_trend_has_a_large_von_neumann_ratio_and_noise_does_not():
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 0.01, (400, 1))
    trend = np.linspace(0, 0.1, 400)[:, None] + rng.normal(0, 0.01, (400, 1))
    table = variability_indices(np.hstack([noise, trend]), np.full((400, 2), 0.01),
                                np.arange(400.0))
    assert table["ETA_INV"][0] == pytest.approx(0.5, abs=0.1)  # white noise: eta ~ 2
    assert table["ETA_INV"][1] > 3.0  # variance 9.3e-4 over delta^2 2e-4
    assert table["CHI2_RED"][0] == pytest.approx(1.0, abs=0.2)


def test_too_few_points_give_no_index_and_candidates_stand_out():
    rng = np.random.default_rng(4)
    n_frames, n_stars = 60, 200
    magnitude = np.linspace(12, 18, n_stars)
    err = 0.002 + 0.01 * 10 ** (0.4 * (magnitude - 17))
    mag = magnitude + rng.normal(0, 1, (n_frames, n_stars)) * err
    mag[:, 50] += 0.2 * np.sin(np.arange(n_frames) / 5.0)  # a variable
    mag[4:, 7] = np.nan  # seen in 4 frames only
    table = variability_indices(mag, np.broadcast_to(err, mag.shape), np.arange(n_frames) / 100)
    assert np.isnan(table["IQR_MAG"][7]) and np.isnan(table["STETSON_J"][7])
    table["STAR_ID"] = np.arange(n_stars)
    ranked = rank_candidates(table, threshold=5.0)
    assert ranked["STAR_ID"][0] == 50 and ranked["CANDIDATE"][0]
    assert ranked["CANDIDATE"].sum() <= 3  # white-noise stars rarely pass 5 sigma
