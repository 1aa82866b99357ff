"""Light curves from synthetic products with known truth: matching, ensemble, transit,
variables, several telescopes, bad input, reproducibility, the AAVSO file."""

import json
import shutil

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

from ccdphot.errors import InputError
from ccdphot.series import LightCurveOptions, build_lightcurves, write_lightcurves
from ccdphot.series.align import match_by_pixels
from ccdphot.series.ensemble import EnsembleOptions, broeg_weights, reject_variables
from ccdphot.series.products import read_results
from ccdphot.series.synthetic import make_field, write_products
from ccdphot.series.transit import TransitGuess

N_FRAMES, N_STARS = 48, 150
TIME = 2460000.5 + np.arange(N_FRAMES) * 0.004


def _sky(x, y):
    """Sky position of a reference pixel in the synthetic tangent plane (1 arcsec/pix)."""
    return SkyCoord((150.0 + (x - 500) / 3600 / np.cos(np.radians(20.0))) * u.deg,
                    (20.0 + (y - 500) / 3600) * u.deg)


@pytest.fixture(scope="module")
def field():
    return make_field(N_STARS, np.random.default_rng(11), n_variables=4, depth=0.02,
                      t0=TIME[N_FRAMES // 2], duration_days=0.08)


@pytest.fixture(scope="module")
def drifting(tmp_path_factory, field):
    """No WCS; the field drifts 0.8 px per frame and rotates by 2 degrees."""
    out = tmp_path_factory.mktemp("drifting")
    write_products(out, field, TIME, np.random.default_rng(12), drift_pix=(0.8, -0.3),
                   rotation_deg=2.0)
    return out


@pytest.fixture(scope="module")
def drifting_result(drifting, field):
    return build_lightcurves([drifting], (field.x[0], field.y[0]),
                             LightCurveOptions(transit=TransitGuess()))


def test_alignment_pairs_the_same_stars(drifting):
    frames, rejected = read_results([drifting])
    assert not rejected and len(frames) == N_FRAMES
    matches = match_by_pixels(frames, frames[0], radius_pix=2.0)
    ref_mag = frames[0].columns["MAG_AUTO"]
    for frame in frames[1:]:
        match = matches[frame.name]
        seen = match.rows >= 0
        assert seen.mean() > 0.9
        difference = frame.columns["MAG_AUTO"][match.rows[seen]] - ref_mag[seen]
        assert np.median(np.abs(difference)) < 0.1  # the same stars (a wrong pair: ~2 mag)
    # frame -> reference undoes the 2 degree rotation
    assert abs(matches[frames[-1].name].transform.angle_deg + 2.0) < 0.1


def test_transit_variables_and_comparisons(drifting_result, field):
    series = drifting_result.groups[0]
    transit = series.detrending.transit
    assert transit.t0 == pytest.approx(field.t0, abs=3 * transit.t0_err + 1e-4)
    assert transit.depth == pytest.approx(field.depth, abs=3 * transit.depth_err + 1e-3)
    assert series.summary["oot_rms_mag"] < 0.005
    ids = series.series.stars["STAR_ID"]
    comparison_ids = set(ids[series.ensemble.columns])
    truth = {_star_id(series, field, v) for v in field.variable}
    assert not comparison_ids & truth
    assert series.ensemble.check >= 0 and series.ensemble.check not in series.ensemble.columns
    ranked = series.variability
    candidates = set(ranked["STAR_ID"][ranked["CANDIDATE"]])
    visible = {s for s in truth if s is not None}
    assert visible <= candidates
    target = _star_id(series, field, 0)
    assert target in candidates  # the transit
    assert len(candidates - visible - {target}) <= 2  # 5-sigma false alarms among 150 stars


def _star_id(series, field, index):
    """STAR_ID of a true star (nearest reference star to its true position)."""
    x = np.asarray(series.series.stars["X_REF"])
    y = np.asarray(series.series.stars["Y_REF"])
    distance = np.hypot(x - field.x[index], y - field.y[index])
    return int(series.series.stars["STAR_ID"][distance.argmin()]) if distance.min() < 1 else None


def test_broeg_weights_favour_quiet_stars_and_variables_are_rejected():
    rng = np.random.default_rng(5)
    noise = np.array([0.002, 0.004, 0.008, 0.004, 0.004])
    mag = 12 + rng.normal(0, 1, (200, 5)) * noise
    mag[:, 4] += 0.05 * np.sin(np.arange(200) / 10)  # a variable
    err = np.broadcast_to(noise, mag.shape)
    weights, scatter = broeg_weights(mag, err, [0, 1, 2, 3])
    assert weights[0] > weights[1] > weights[2]
    assert weights[1] / weights[2] == pytest.approx((scatter[2] / scatter[1]) ** 2)
    roles = {}
    kept = reject_variables(mag, err, [0, 1, 2, 3, 4], EnsembleOptions(), roles)
    assert kept == [0, 1, 2, 3] and roles[4][0] == "variable"


def test_rebuilt_products_are_identical(drifting_result, tmp_path):
    first = write_lightcurves(drifting_result, tmp_path / "a", name="SYNTH-1", plots_wanted=False)
    write_lightcurves(drifting_result, tmp_path / "b", name="SYNTH-1", plots_wanted=False)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert "target_lc.ecsv" in names and "target_aavso.txt" in names and "stars_lc.ecsv" in names
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert first["series"][0]["match"] == "pixels"
    lines = (tmp_path / "a" / "target_aavso.txt").read_text().splitlines()
    assert lines[:6] == ["#TYPE=EXTENDED", "#OBSCODE=na", lines[2], "#DELIM=,", "#DATE=JD",
                         "#OBSTYPE=CCD"]
    data = [line.split(",") for line in lines if not line.startswith("#")]
    assert len(data) == N_FRAMES and all(len(row) == 15 for row in data)
    assert {row[6] for row in data} == {"DIF"} and {row[7] for row in data} == {"ENSEMBLE"}
    table = Table.read(tmp_path / "a" / "target_lc.ecsv")
    assert float(data[0][1]) == pytest.approx(table["JD_UTC"][0], abs=1e-5)
    assert table["BJD_TDB"].unit == u.day and "DMAG_DETRENDED" in table.colnames


def test_bad_input_is_named(drifting, field, tmp_path):
    results = tmp_path / "RESULTS"
    for source in sorted(drifting.iterdir())[:6]:
        shutil.copytree(source, results / source.name)
    names = sorted(p.name for p in results.iterdir())
    _edit_meta(results / names[1], CCDPHOT_SCHEMA=7)
    _edit_meta(results / names[2], JD_UTC_MID=None, BJD_TDB_MID=None)
    other = make_field(N_STARS, np.random.default_rng(99))
    write_products(tmp_path / "other", other, TIME[3:4], np.random.default_rng(1),
                   prefix="elsewhere")
    shutil.copytree(tmp_path / "other" / "elsewhere0000", results / "elsewhere0000")
    result = build_lightcurves([results], (field.x[0], field.y[0]),
                               LightCurveOptions(ensemble=EnsembleOptions(min_comparisons=2)))
    reasons = {r.name: r.reason for r in result.rejected}
    assert "schema 7" in reasons[names[1]] and names[1] in reasons[names[1]]
    assert "no observation time" in reasons[names[2]]
    assert "elsewhere0000" in reasons and "different field" in reasons["elsewhere0000"]
    assert result.groups[0].series.n_frames == 4
    with pytest.raises(InputError, match="outside reference frame"):
        build_lightcurves([results], (5000.0, 20.0))
    with pytest.raises(InputError, match="no star within"):
        build_lightcurves([results], (field.x[0] + 40, field.y[0] + 40))
    with pytest.raises(InputError, match="no WCS"):
        build_lightcurves([results], _sky(field.x[0], field.y[0]))
    narrow = EnsembleOptions(brighter_mag=0.001, fainter_mag=0.001)
    with pytest.raises(InputError, match="comparison star candidates"):
        build_lightcurves([results], (field.x[0], field.y[0]), LightCurveOptions(ensemble=narrow))


def _edit_meta(directory, **changes):
    path = directory / "photometry.ecsv"
    table = Table.read(path)
    for key, value in changes.items():
        if value is None:
            table.meta.pop(key, None)
        else:
            table.meta[key] = value
    table.write(path, overwrite=True)


def test_two_telescopes_on_the_calibrated_scale(tmp_path, field):
    results = []
    for i, (telescope, zero_point, offset) in enumerate((("T1", 21.3, 0.0), ("T2", 19.8, 0.002))):
        out = tmp_path / telescope
        write_products(out, field, TIME[i::2] + offset, np.random.default_rng(20 + i), wcs=True,
                       telescope=telescope, zero_point=zero_point, drift_pix=(0.5, 0.2),
                       prefix=f"{telescope}_")
        results.append(out)
    result = build_lightcurves(results, _sky(field.x[0], field.y[0]),
                               LightCurveOptions(detrend="none"))
    assert [g.group for g in result.groups] == ["T1/V", "T2/V"]
    combined = result.combined
    assert len(combined) == N_FRAMES
    assert np.all(np.diff(combined["BJD_TDB"]) > 0)
    calibrated = np.asarray(combined["MAG_CAL_ENS"])
    out_of_transit = np.abs(np.asarray(combined["BJD_TDB"]) - field.t0) > 0.06
    for group in ("T1/V", "T2/V"):
        rows = out_of_transit & (np.asarray(combined["GROUP"]) == group)
        assert np.median(calibrated[rows]) == pytest.approx(field.mag[0], abs=0.01)
    summary = write_lightcurves(result, tmp_path / "lc", name="SYNTH-1")
    assert [s["directory"] for s in summary["series"]] == ["T1_V", "T2_V"]
    assert (tmp_path / "lc" / "target_lc.png").is_file()
    lines = (tmp_path / "lc" / "T1_V" / "target_aavso.txt").read_text().splitlines()
    assert lines[-1].split(",")[6] == "STD"
    assert json.loads((tmp_path / "lc" / "lightcurve.json").read_text())["series"][0]["match"] == "sky"
