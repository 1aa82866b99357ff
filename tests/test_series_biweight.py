"""The time-windowed biweight (ccdphot.series.biweight) that replaced wotan's.

Real light curves (VARTOOLS examples, GPL-3.0, read from ../shared/data): the trend
at nine points each equals wotan 2.1's, recorded here (benchmarks/bench_biweight.py
compares every point). Known truth: a window wider than the series gives astropy's
biweight location, iterated; a constant with outliers gives the constant.
"""

import numpy as np
import pytest
from astropy.stats import biweight_location

from ccdphot.errors import InputError
from ccdphot.series import biweight
from ccdphot.series.biweight import biweight_trend
from ccdphot.series.detrend import detrend_biweight

# wotan 2.1 flatten(method="biweight") through detrend_biweight's flux transform, in
# magnitudes, at these indexes of the light curve (window in days).
WOTAN_TREND_MAG = {
    ("2", 0.5): {0: 10.151596397, 414: 10.103134004, 828: 10.105211897,
                 1242: 10.076582376, 1656: 10.095065693, 2070: 10.08182181,
                 2484: 10.092073894, 2898: 10.075506199, 3312: 10.149963021},
    ("M3.V006.lc", 0.1): {0: 16.030451791, 26: 15.38705815, 52: 16.095061627,
                          78: 16.066629991, 105: 16.034398628, 131: 15.768152736,
                          157: 15.868748025, 183: 15.745108699, 210: 15.871814552},
}


@pytest.mark.parametrize("name, window", list(WOTAN_TREND_MAG))
def test_trend_of_real_light_curves_is_wotans(shared_data, name, window):
    data = np.loadtxt(shared_data / "vartools" / "lc" / name, usecols=(0, 1))
    trend = detrend_biweight(data[:, 0], data[:, 1], window).trend
    recorded = WOTAN_TREND_MAG[name, window]
    index = np.array(list(recorded))
    # 1e-6 mag: rounding of the record and wotan's own tolerance, 1e-6 of the MAD
    np.testing.assert_allclose(trend[index], list(recorded.values()), rtol=0, atol=1e-6)


def test_one_wide_window_is_astropys_biweight_iterated():
    rng = np.random.default_rng(3)
    time = np.sort(rng.uniform(0, 1, 400))
    values = 1 + rng.normal(0, 0.01, 400)
    values[::37] += 0.2  # outliers the bisquare weights drop
    trend = biweight_trend(time, values, window=10.0)
    location = np.median(values)
    for _ in range(100):
        location = biweight_location(values, c=5.0, M=location)
    np.testing.assert_allclose(trend, location, rtol=0, atol=1e-8)
    assert abs(location - 1) < 0.002  # the outliers do not pull it


def test_constant_with_outliers_stays_constant():
    time = np.arange(200) * 0.01
    values = np.full(200, 5.0)
    values[[10, 50, 51, 120]] = [9.0, -3.0, 7.0, 100.0]
    np.testing.assert_array_equal(biweight_trend(time, values, 0.3), 5.0)


def test_order_and_blocks_do_not_change_the_trend(monkeypatch):
    rng = np.random.default_rng(5)
    time = np.sort(rng.uniform(0, 3, 300))
    values = np.sin(time) + rng.normal(0, 0.05, 300)
    trend = biweight_trend(time, values, 0.4)
    shuffle = rng.permutation(300)
    np.testing.assert_array_equal(biweight_trend(time[shuffle], values[shuffle], 0.4),
                                  trend[shuffle])
    monkeypatch.setattr(biweight, "BLOCK_CELLS", 100)  # a few rows per block
    # (a narrower padding sums in another order: round-off only)
    np.testing.assert_allclose(biweight_trend(time, values, 0.4), trend, rtol=0, atol=1e-12)
    # away from the one-sided windows of the ends, the trend follows the sine, not the
    # noise (0.05 a point, ~40 points a window)
    inner = (time > 0.4) & (time < 2.6)
    assert np.sqrt(np.mean(np.square(trend - np.sin(time))[inner])) < 0.02


@pytest.mark.parametrize("window", [0, -1.0, float("nan"), "half a day", None])
def test_bad_window_is_a_clear_error(window):
    with pytest.raises(InputError, match="biweight: the window"):
        biweight_trend([1.0, 2.0], [1.0, 1.0], window)


def test_nan_points_are_a_clear_error():
    with pytest.raises(InputError, match="leave NaN points out"):
        biweight_trend([1.0, 2.0, 3.0], [1.0, np.nan, 1.0], 1.0)
