"""DAOPHOT/ALLSTAR through PyRAF: the aperture and psf steps, --legacy, the PyRAF runner.

The IRAF chain runs once per fixture on the real NGC 6871 frame: the default
(automatic) run, a run with another zero point and neighbour-subtracted
aperture photometry, and the reproduction of the frame's legacy DAOPHOT II
reduction; and on two small synthetic frames of known profile (Moffat, Gaussian)
for the choice of the PSF function. Parsers are also tested on recorded IRAF
output.
"""

import json
import logging
import threading
from pathlib import Path

import numpy as np
import pytest
from astropy.convolution import discretize_model
from astropy.io import fits
from astropy.modeling.models import Gaussian2D, Moffat2D
from astropy.table import Table
from ccdphot.wrappers import daophot
from ccdphot.wrappers.pyraf import run_iraf
from plumbum import local

import ccdphot
from ccdphot.config import load_config
from ccdphot.daophot import daophot2_files
from ccdphot.daophot.legacy_comparison import compare_to_legacy
from ccdphot.daophot.psets import PSETS, PSF_FUNCTIONS, aperture_radii, frame_layer, merge_psets
from ccdphot.daophot.psf_iterations import choose_function
from ccdphot.errors import ConfigError, InputError, ToolError, ToolNotFoundError
from ccdphot.tools import ToolRegistry

DATA = Path(__file__).parent / "data"
STEPS = ["header", "detect", "aperture", "psf"]
# A second run of the frame: another magnitude zero point, and aperture photometry with
# the neighbours' PSF models subtracted (two features checked on one extra IRAF run).
VARIANT = {"photometry": {"zero_point_mag": 23.0}, "aperture": {"subtract_neighbours": True}}


@pytest.fixture(scope="module")
def default_run(tmp_path_factory, ngc6871_fits):
    out = tmp_path_factory.mktemp("daophot_default")
    return ccdphot.run(ngc6871_fits, steps=STEPS, out=out)


@pytest.fixture(scope="module")
def variant_run(tmp_path_factory, ngc6871_fits):
    out = tmp_path_factory.mktemp("daophot_variant")
    return ccdphot.run(ngc6871_fits, config=load_config(data=VARIANT), steps=STEPS, out=out)


@pytest.fixture(scope="module")
def legacy_run(tmp_path_factory, ngc6871_fits, ngc6871_dir):
    out = tmp_path_factory.mktemp("daophot_legacy")
    return ccdphot.run(ngc6871_fits, steps=STEPS, out=out,
                       options={"legacy_dir": str(ngc6871_dir)})


# -- pure: parameters and parsers ---------------------------------------------------------

def test_psets_layers_and_frame_values():
    frame = frame_layer(2.5, 23.0, gain_e_per_adu=9.0, readnoise_e=15.3, saturate_adu=31000,
                        sky_sigma_adu=2.2, header_keys=["AIRMASS", "FILTER"])
    psets = merge_psets(frame, {"photpars": {"apertures": [3.0, 5.0]}},
                        {"daopars": {"fitrad": 7.0}})
    assert set(psets) == set(PSETS)
    dp = psets["datapars"]
    assert (dp["fwhmpsf"], dp["epadu"], dp["readnoise"], dp["datamax"], dp["sigma"]) == \
        (2.5, 9.0, 15.3, 31000.0, 2.2)
    assert (dp["airmass"], dp["filter"], dp["obstime"]) == ("AIRMASS", "FILTER", "")
    assert dp["itime"] == 1.0 and dp["exposure"] == ""  # no exposure-time normalisation
    assert psets["photpars"]["zmag"] == 23.0  # [photometry] zero_point_mag
    assert psets["daopars"]["fitrad"] == 7.0
    assert aperture_radii(psets) == [3.0, 5.0]
    assert aperture_radii({"photpars": {"apertures": "8.0, 12"}}) == [8.0, 12.0]


def test_unknown_pset_or_parameter_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown DAOPHOT parameter set 'fitpars'"):
        merge_psets({"fitpars": {"x": 1}})
    with pytest.raises(ConfigError, match="fitradius in daopars"):
        merge_psets({"daopars": {"fitradius": 3.0}})


def test_read_psf_log_auto_and_single_function():
    auto = daophot.read_psf_log(DATA / "daophot" / "psf_auto.log")
    assert auto["function"] == "penny2"
    assert set(auto["scatter"]) == set(PSF_FUNCTIONS)
    assert auto["scatter"]["penny2"] == pytest.approx(0.02581823)
    assert auto["n_stars"] == 40
    gauss = daophot.read_psf_log(DATA / "daophot" / "psf_gauss.log")
    assert gauss["function"] == "gauss" and list(gauss["scatter"]) == ["gauss"]
    assert gauss["n_stars"] == 60


def test_pst_file_round_trip(tmp_path):
    path = daophot.write_pst(tmp_path / "stars.pst", [7, 3], [10.5, 200.25], [20.0, 30.125],
                             [12.43, 13.5], [12.6, 12.7])
    lines = path.read_text().splitlines()
    assert lines[3].startswith("#N ID    XCENTER   YCENTER   MAG")
    rows = [line.split() for line in lines if not line.startswith("#")]
    assert rows == [["7", "10.500", "20.000", "12.430", "12.6"],
                    ["3", "200.250", "30.125", "13.500", "12.7"]]
    table = daophot.read_iraf_daophot(path)
    assert list(table["ID"]) == [7, 3] and table.meta["iraf_task"] == "pstselect"


def test_function_choice_prefers_fewer_parameters_within_the_tolerance():
    """NGC 6871 (IRAF's own trial, recorded): penny2 (5 parameters) fits best by 0.01 %,
    moffat25 (3 parameters) is taken; with no tolerance IRAF's choice stands."""
    scatter = daophot.read_psf_log(DATA / "daophot" / "psf_auto.log")["scatter"]
    assert choose_function(scatter, 0.01)[0] == "moffat25"
    assert choose_function(scatter, 0.0)[0] == "penny2"
    assert choose_function(scatter, 0.5)[0] == "gauss"  # 0.0382 < 1.5 x 0.0258


# -- the PyRAF runner ----------------------------------------------------------------------

@pytest.mark.requires_iraf
def test_iraf_missing_is_a_one_line_tool_not_found(tmp_path):
    config = load_config(data={"tools": {"iraf": {
        "command": ["{python}", "-m", "ccdphot.no_such_worker"]}}})
    with pytest.raises(ToolNotFoundError, match="IRAF .*not usable") as err:
        ToolRegistry(config).use("iraf")
    assert "\n" not in str(err.value)


@pytest.mark.requires_iraf
def test_parallel_jobs_in_one_directory_do_not_collide(tmp_path, ngc6871_fits):
    """Two PHOT jobs at once in one work directory, each with its own uparm; the
    directory's name has a space and shell characters (IRAF cannot enter it)."""
    tmp_path = tmp_path / "work dir;$(x)"
    tmp_path.mkdir()
    with fits.open(ngc6871_fits) as hdul:
        fits.writeto(tmp_path / "cut.fits", hdul[0].data[450:650, 500:700])
    (tmp_path / "a.xy").write_text("101.0 101.0\n50.0 60.0\n")
    (tmp_path / "b.xy").write_text("20.0 30.0\n")
    tool = ToolRegistry(load_config()).use("iraf")
    psets = merge_psets({"photpars": {"apertures": [3.0]}})
    errors, tables = [], {}

    def job(name, radius):
        psets_job = merge_psets(psets, {"photpars": {"apertures": [radius]}})
        try:
            tables[name] = daophot.Job(
                tool, tmp_path, name=name, psets=psets_job,
                calls=(daophot.phot_call("cut.fits", f"{name}.xy", f"{name}.mag"),),
                expect=(f"{name}.mag",), catalog=f"{name}.mag").run().table
        except Exception as err:  # collected and re-raised in the main thread
            errors.append(err)

    threads = [threading.Thread(target=job, args=(n, r)) for n, r in (("a", 3.0), ("b", 5.0))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    a, b = tables["a"], tables["b"]
    assert len(a) == 2 and len(b) == 1
    assert float(a["RAPERT"][0]) == 3.0 and float(b["RAPERT"][0]) == 5.0
    assert (tmp_path / ".iraf" / "a" / "uparm").is_dir()
    assert (tmp_path / ".iraf" / "b" / "uparm").is_dir()
    assert json.loads((tmp_path / "a.json").read_text())["private_dir"] == ".iraf/a"
    assert not any(path.is_symlink() for path in tmp_path.iterdir())


@pytest.mark.requires_iraf
def test_iraf_task_failure_is_a_tool_error_with_its_message(tmp_path):
    tool = ToolRegistry(load_config()).use("iraf")
    with pytest.raises(ToolError) as err:
        run_iraf(tool, [daophot.phot_call("missing.fits", "stars.xy", "out.mag")], tmp_path,
                 "fails")
    message = str(err.value)
    assert "exit code 2" in message and "IRAF task phot failed" in message
    assert "Cannot open image (missing.fits)" in message
    assert "\n" not in message


@pytest.mark.requires_iraf
def test_psf_fitted_on_blank_sky_is_reported_as_a_failure(tmp_path, ngc6871_fits):
    """IRAF PSF writes a model even for a 'star' on blank sky; ccdphot refuses it."""
    with fits.open(ngc6871_fits) as hdul:
        fits.writeto(tmp_path / "cut.fits", hdul[0].data[450:650, 500:700])
    (tmp_path / "sky.xy").write_text("100.0 100.0\n")  # no star there
    daophot.write_pst(tmp_path / "sky.pst", [1], [100.0], [100.0], [20.0], [12.0])
    tool = ToolRegistry(load_config()).use("iraf")
    psets = merge_psets({"datapars": {"fwhmpsf": 2.1, "sigma": 2.2},
                         "daopars": {"psfrad": 8.0, "fitrad": 2.0}})
    daophot.Job(tool, tmp_path, name="blank", psets=psets, calls=(
        daophot.phot_call("cut.fits", "sky.xy", "sky.mag"),
        daophot.psf_call("cut.fits", "sky.mag", "sky.pst", "sky_psf.fits", "out.pst", "out.psg",
                         "psf.log")), expect=("sky_psf.fits",)).run()
    report = daophot.read_psf_log(tmp_path / "psf.log")
    model = daophot.read_psf_header(tmp_path / "sky_psf.fits")
    with pytest.raises(ToolError, match=r"PSF fit failed: function gauss, height -?[0-9.]+ ADU"):
        daophot.check_psf_fit(report, model, 0.2, "psf.log")


# -- the steps on the real frame ------------------------------------------------------------

@pytest.mark.requires_iraf
@pytest.mark.requires_sextractor
def test_aperture_step_fills_mag_aper_from_daophot(default_run):
    table = default_run.table
    record = default_run.record
    assert table.meta["MAG_APER_SOURCE"].startswith("DAOPHOT PHOT (IRAF), radius")
    radius = record["details"]["aperture"]["apertures_pix"][0]
    assert radius == pytest.approx(1.5 * record["qc"]["seeing_fwhm_pix"], abs=0.01)
    measured = ~table["MAG_APER"].mask
    detected = np.asarray(table["DETECTION_PASS"]) == 1  # residual-pass stars: no MAG_APER
    assert measured[detected].sum() > 0.95 * detected.sum() and not measured[~detected].any()
    # the working copy of the frame is what IRAF measured: compare one bright star by hand
    phot = daophot.read_iraf_daophot(default_run.out_dir / "work" / "aperture.mag")
    bright = int(np.nanargmin(np.ma.filled(phot["MAG"], np.nan)))
    row = np.flatnonzero(table["NUMBER"] == table["NUMBER"][bright])[0]
    assert table["MAG_APER"][row] == pytest.approx(float(phot["MAG"][bright]))


@pytest.mark.requires_iraf
@pytest.mark.requires_sextractor
def test_psf_iterations_refit_on_the_frame_cleaned_of_neighbours(default_run):
    """Each further PSF iteration is fitted on the previous image with the PSF stars'
    neighbours (and only them) subtracted; its model differs from the previous one unless
    the iterations stopped on convergence; the PSF is made of the stars written."""
    work = default_run.out_dir / "work"
    details = default_run.record["details"]["psf"]
    records = details["iterations"]
    assert details["psf_star_selection"] == "automatic"
    assert [r["iteration"] for r in records] == list(range(1, len(records) + 1))
    assert len(records) == load_config()["psf"]["iterations"] or records[-1]["converged"]
    psfrad = details["daopars"]["psfrad"]
    given = daophot.read_iraf_daophot(work / "psf_stars.pst")
    psf_ids = {int(i) for i in given["ID"]}
    previous = fits.getdata(work / "frame.fits").astype(float)
    ny, nx = previous.shape
    yy, xx = np.mgrid[1:ny + 1, 1:nx + 1]
    for k, record in enumerate(records, start=1):
        image = "frame.fits" if k == 1 else f"cleaned_iter{k - 1}.fits"
        assert record["image"] == image
        assert f"Computing PSF for image: {image}" in (work / f"psf_iter{k}.log").read_text()
        if k > 1:
            current = fits.getdata(work / image).astype(float)
            nst = daophot.read_iraf_daophot(work / f"psf_iter{k - 1}.nst")
            is_neighbour = np.array([int(i) not in psf_ids for i in nst["ID"]])
            assert is_neighbour.sum() == record["n_neighbours_subtracted"] > 0
            changed = current != previous
            near = np.zeros_like(changed)
            for x, y in zip(nst["X"][is_neighbour], nst["Y"][is_neighbour]):
                near |= np.hypot(xx - x, yy - y) <= psfrad + 1
                assert changed[int(round(y)) - 1, int(round(x)) - 1]  # subtracted there
            assert changed.any() and not (changed & ~near).any()  # and nowhere else
            for x, y in zip(nst["X"][~is_neighbour], nst["Y"][~is_neighbour]):
                i, j = int(round(y)) - 1, int(round(x)) - 1
                star = previous[i, j] - np.median(previous)
                assert abs(current[i, j] - previous[i, j]) < 0.01 * star  # PSF stars stay
            tables = [fits.getdata(work / f"psf_iter{n}.fits") for n in (k - 1, k)]
            assert (tables[0] != tables[1]).any() and record["model_change"] > 0
            previous = current
        # the PSF is made of the PSF stars written, less those PSF rejected
        model = daophot.read_psf_header(work / f"psf_iter{k}.fits")
        assert set(model["star_ids"]) == psf_ids - set(record["psf_stars_rejected"])
        assert set(daophot.read_iraf_daophot(work / f"psf_iter{k}.pst")["ID"]) == \
            set(model["star_ids"])
    assert len(given) == details["n_psf_stars_given"]
    phot = daophot.read_iraf_daophot(work / "aperture.mag")
    row = {int(i): n for n, i in enumerate(phot["ID"])}
    at = [row[int(i)] for i in given["ID"]]
    np.testing.assert_allclose(given["X"], phot["X"][at], atol=1e-3)
    np.testing.assert_allclose(given["Y"], phot["Y"][at], atol=1e-3)
    # ALLSTAR fitted with the last iteration's PSF, the one kept as psf_model.fits
    als = daophot.read_iraf_daophot(work / "allstar.als")
    last = f"psf_iter{len(records)}.fits"
    assert als.meta["keywords"]["PSFIMAGE"] == details["model_file"] == last
    assert (fits.getdata(work / "psf_model.fits") == fits.getdata(work / last)).all()
    assert details["model"]["function"] == default_run.record["qc"]["psf_function"]
    for record in records:
        assert record["function"] in PSF_FUNCTIONS and 0 < record["scatter"] < 0.1


@pytest.mark.requires_iraf
@pytest.mark.requires_sextractor
def test_psf_step_fills_the_unified_table_by_number(default_run):
    table = default_run.table
    fitted = ~table["MAG_PSF"].mask
    assert fitted.sum() > 0.95 * len(table)
    for name in ("X_PSF", "Y_PSF", "MAGERR_PSF", "CHI", "SHARP"):
        assert not table[name].mask[fitted].any(), name
    # rows align by NUMBER: the PSF position is the detection's, refined
    def values(name):
        return np.asarray(table[name][fitted], float)

    offset = np.hypot(values("X_PSF") - values("X_IMAGE"), values("Y_PSF") - values("Y_IMAGE"))
    assert np.median(offset) < 0.3
    # ALLSTAR removed the stars: the residual frame is much flatter at the bright stars
    work = default_run.out_dir / "work"
    image = fits.getdata(work / "frame.fits")
    residual = fits.getdata(work / "residual.fits")
    bright = fitted & (table["MAG_PSF"] < 14)
    x = np.round(np.asarray(table["X_PSF"][bright])).astype(int) - 1
    y = np.round(np.asarray(table["Y_PSF"][bright])).astype(int) - 1
    sky = default_run.record["qc"]["background_adu"]
    assert np.median(np.abs(residual[y, x] - sky)) < 0.05 * np.median(image[y, x] - sky)


@pytest.mark.requires_iraf
@pytest.mark.requires_sextractor
def test_neighbour_subtracted_aperture_photometry(variant_run, default_run):
    table, plain = variant_run.table, default_run.table
    assert "ALLSTAR models of all other stars subtracted" in table.meta["MAG_APER_SOURCE"]
    psf_step = next(step for step in variant_run.record["steps"] if step["name"] == "psf")
    assert psf_step["figures"]["n_aperture_without_neighbours"] > 2300
    both = ~table["MAG_APER"].mask & ~plain["MAG_APER"].mask
    assert list(table["NUMBER"]) == list(plain["NUMBER"])
    # the variant run's zero point is 2 mag below the default's
    delta = np.asarray(table["MAG_APER"] - plain["MAG_APER"], float) + 2.0
    bright = both & (np.asarray(plain["MAG_APER"], float) < 16)
    faint = both & (np.asarray(plain["MAG_APER"], float) > 18)
    # bright stars barely change; faint ones lose their neighbours' light (fainter/brighter
    # by several hundredths) -- the own model put back keeps the scale unchanged
    assert abs(np.median(delta[bright])) < 0.005
    assert np.percentile(np.abs(delta[faint]), 90) > 0.02


@pytest.mark.requires_iraf
@pytest.mark.requires_sextractor
def test_zero_point_reaches_every_method(variant_run, default_run):
    """[photometry] zero_point_mag = 23 instead of 25: SExtractor's MAG_AUTO, DAOPHOT PHOT's
    and ALLSTAR's magnitudes all 2 mag brighter, star by star (IRAF writes 3 decimals)."""
    table, plain = variant_run.table, default_run.table
    assert list(table["NUMBER"]) == list(plain["NUMBER"])
    for name in ("MAG_AUTO", "MAG_PSF"):
        both = ~table[name].mask & ~plain[name].mask
        assert both.sum() > 2300, name
        np.testing.assert_allclose(np.asarray(table[name] - plain[name], float)[both], -2.0,
                                   atol=1.001e-3, err_msg=name)
    # MAG_APER of the variant run is neighbour-subtracted; PHOT's own output is on the scale
    new, old = (daophot.read_iraf_daophot(run.out_dir / "work" / "aperture.mag")
                for run in (variant_run, default_run))
    both = ~new["MAG1"].mask & ~old["MAG1"].mask
    assert both.sum() > 2300 and new.meta["keywords"]["ZMAG"] == 23.0
    np.testing.assert_allclose(np.asarray(new["MAG1"] - old["MAG1"], float)[both], -2.0,
                               atol=1.001e-3)


@pytest.mark.requires_iraf
@pytest.mark.requires_sextractor
def test_automatic_psf_photometry_agrees_with_the_legacy_allstar(default_run, ngc6871_dir):
    legacy = daophot2_files.read_daophot_als(ngc6871_dir / "NGC6871.als")
    _, summary = compare_to_legacy(default_run.table, legacy)
    assert summary["n_precise_matched"] > 150
    assert summary["robust_scatter_mag"] < 0.025


@pytest.mark.requires_iraf
@pytest.mark.requires_sextractor
def test_legacy_reproduction_meets_the_targets(legacy_run):
    summary = legacy_run.record["details"]["legacy_comparison"]
    assert summary["matched_fraction"] >= 0.95
    assert summary["robust_scatter_mag"] <= 0.02
    assert legacy_run.record["qc"]["legacy_matched_fraction"] == \
        pytest.approx(summary["matched_fraction"], abs=1e-4)
    record = json.loads((legacy_run.out_dir / "run.json").read_text())
    bins = record["details"]["legacy_comparison"]["bins"]
    assert sum(b["N"] for b in bins) == summary["n_matched"]
    assert all(b["ROBUST_SCATTER_MAG"] is None or b["ROBUST_SCATTER_MAG"] < 0.2 for b in bins)
    comparison = Table.read(legacy_run.out_dir / "legacy_comparison.ecsv")
    assert len(comparison) == summary["n_legacy"] == 4146
    assert (legacy_run.out_dir / "legacy_comparison.png").stat().st_size > 10_000


@pytest.mark.requires_iraf
@pytest.mark.requires_sextractor
def test_legacy_mode_uses_the_legacy_lists_and_parameters(legacy_run, ngc6871_dir):
    table = legacy_run.table
    coo = daophot2_files.read_daophot_coo(ngc6871_dir / "NGC6871.coo")
    assert list(table["NUMBER"]) == list(coo["ID"])  # the legacy star list is the row list
    details = legacy_run.record["details"]
    assert details["psf"]["psf_star_selection"] == "legacy list"
    assert details["psf"]["n_psf_stars_given"] == 60
    assert details["psf"]["daopars"]["function"] == "gauss"
    assert details["psf"]["daopars"]["psfrad"] == 24.0
    assert details["aperture"]["apertures_pix"] == [8.0]
    assert details["aperture"]["sky_annulus_pix"] == [35.0, 15.0]


@pytest.mark.requires_iraf
@pytest.mark.requires_sextractor
def test_no_usable_psf_star_is_a_clear_error_and_products_are_kept(tmp_path, ngc6871_fits):
    config = load_config(data={"psf": {"fwhm_tolerance": 0.0001}})
    with pytest.raises(InputError, match=r"only 0 usable PSF stars .*min_stars") as err:
        ccdphot.run(ngc6871_fits, config=config, steps=STEPS, out=tmp_path)
    assert "\n" not in str(err.value)
    out = tmp_path / "NGC6871"
    record = json.loads((out / "run.json").read_text())
    assert record["status"].startswith("failed at psf")
    written = Table.read(out / "photometry.ecsv")
    assert (~written["MAG_APER"].mask).sum() > 0  # the aperture step's results are kept


@pytest.mark.requires_iraf
@pytest.mark.requires_sextractor
def test_a_later_psf_iteration_that_fits_no_model_keeps_the_previous_psf(
        tmp_path, shared_data, caplog):
    """A real HAT-P-32 frame (3.4 px seeing) whose 2nd PSF fit, on the cleaned frame, does
    not converge: the frame is measured with iteration 1's PSF and the record says so."""
    frame = shared_data / "hatp32" / "frames" / "HATP-32171220053312.FITS"
    with caplog.at_level(logging.WARNING, logger="ccdphot"):
        result = ccdphot.run(frame, steps=STEPS, out=tmp_path)
    assert result.ok
    assert "PSF iteration 2: IRAF PSF fitted no model" in caplog.text
    record = json.loads((result.out_dir / "run.json").read_text())
    iterations = record["details"]["psf"]["iterations"]
    assert [it["iteration"] for it in iterations] == [1]
    assert iterations[0]["next_iteration_failed"] is True
    measured = Table.read(result.out_dir / "photometry.ecsv")
    assert (~measured["MAG_PSF"].mask).sum() > 1000


@pytest.mark.requires_sextractor
def test_legacy_files_of_another_image_are_refused(tmp_path, ngc6871_fits, ngc6871_dir):
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    for name in ("daophot.opt", "photo.opt", "allstar.opt"):
        (legacy / name).write_bytes((ngc6871_dir / name).read_bytes())
    lines = (ngc6871_dir / "NGC6871.coo").read_text().splitlines()
    lines[1] = lines[1].replace("1250  1150", "2048  2048")
    (legacy / "NGC6871.coo").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="another image") as err:
        ccdphot.run(ngc6871_fits, steps=["detect", "aperture"], out=tmp_path / "out",
                    options={"legacy_dir": str(legacy)})
    assert "\n" not in str(err.value)
    assert (tmp_path / "out" / "NGC6871" / "photometry.ecsv").is_file()


# -- the PSF function on frames of known profile ---------------------------------------------

def _synthetic_frame(path, profile, fwhm_pix=3.5, size=320, spacing=40, seed=1):
    """An 8 x 8 grid of isolated stars of one known profile ('moffat': beta 2.5, IRAF's
    moffat25; 'gauss'), each integrated over its pixels, with sky, Poisson and read noise."""
    rng = np.random.default_rng(seed)
    sky_adu, gain, read_noise_e, half = 100.0, 2.0, 5.0, 15
    image = np.full((size, size), sky_adu)
    centres = np.arange(spacing // 2, size - spacing // 2 + 1, spacing)
    for yc in centres:
        for xc in centres:
            x0, y0 = xc + rng.uniform(-3, 3), yc + rng.uniform(-3, 3)
            flux = 10 ** rng.uniform(4.0, 5.3)
            if profile == "moffat":
                gamma = fwhm_pix / (2 * np.sqrt(2 ** (1 / 2.5) - 1))
                model = Moffat2D(flux * 1.5 / (np.pi * gamma ** 2), x0, y0, gamma, 2.5)
            else:
                sigma = fwhm_pix / (2 * np.sqrt(2 * np.log(2)))
                model = Gaussian2D(flux / (2 * np.pi * sigma ** 2), x0, y0, sigma, sigma)
            ix, iy = int(round(x0)), int(round(y0))
            image[iy - half:iy + half + 1, ix - half:ix + half + 1] += discretize_model(
                model, (ix - half, ix + half + 1), (iy - half, iy + half + 1),
                mode="oversample", factor=10)
    electrons = rng.poisson(image * gain) + rng.normal(0, read_noise_e, image.shape)
    header = fits.Header({"OBJECT": f"synthetic {profile}", "EXPTIME": 60.0, "FILTER": "V",
                          "GAIN": gain, "RDNOISE": read_noise_e, "SATURATE": 60000.0,
                          "DATE-OBS": "2024-01-01T00:00:00"})
    fits.writeto(path, (electrons / gain).astype(np.float32), header)
    return path


@pytest.fixture(scope="module")
def profile_runs(tmp_path_factory):
    """header, detect, psf (function auto, one iteration) on a Moffat and a Gaussian frame."""
    # 64 stars 11 FWHM apart: crowding index 0.22, but no neighbours to look for
    config = load_config(data={"psf": {"iterations": 1, "passes": 1},
                               "detect": {"crowded": {"enabled": False}}})
    runs = {}
    for profile in ("moffat", "gauss"):
        tmp = tmp_path_factory.mktemp(f"psf_{profile}")
        frame = _synthetic_frame(tmp / f"{profile}.fits", profile)
        runs[profile] = ccdphot.run(frame, config=config, steps=["header", "detect", "psf"],
                                    out=tmp / "out")
    return runs


@pytest.mark.requires_iraf
@pytest.mark.requires_sextractor
def test_auto_function_follows_the_true_profile(profile_runs):
    """Moffat stars: moffat25, with the Gaussian's fit scatter over twice as large. Gaussian
    stars: gauss, although IRAF alone may prefer a Penny function (4-5 parameters) that
    fits no better than 1 %."""
    moffat = profile_runs["moffat"].record["details"]["psf"]
    tried = moffat["iterations"][0]["scatter_by_function"]
    assert moffat["model"]["function"] == "moffat25"
    assert set(tried) == set(PSF_FUNCTIONS) and tried["gauss"] > 2 * tried["moffat25"]
    gauss = profile_runs["gauss"].record["details"]["psf"]
    assert gauss["model"]["function"] == "gauss"
    trial = profile_runs["gauss"].out_dir / "work" / "psf_iter1_functions.log"
    tried = daophot.read_psf_log(trial)["scatter"] if trial.is_file() else \
        gauss["iterations"][0]["scatter_by_function"]
    assert tried["gauss"] <= 1.01 * min(tried.values()) < tried["moffat25"]
    for run in profile_runs.values():
        assert run.record["qc"]["psf_n_fitted"] == 64


# -- PyRAF start-up race --------------------------------------------------------------------

_SLOW_PARENT = '''"""Test hook: the parent sleeps after each fork (first start attempt or all)."""
import os
import time

_fork = os.fork


def _slow_fork():
    pid = _fork()
    if pid and (os.environ.get("SLOW_EVERY_ATTEMPT")
                or "CCDPHOT_PYRAF_START_ATTEMPT" not in os.environ):
        time.sleep(0.3)
    return pid


os.fork = _slow_fork
'''


@pytest.mark.requires_iraf
@pytest.mark.parametrize("sessions", [False, True], ids=["one-shot", "session"])
def test_pyraf_start_up_race_restarts_the_worker(tmp_path, caplog, sessions):
    """PyRAF fails its start-up when IRAF's `ls -1ad [a-y]*` (in an empty iraf$extern) has
    exited before PyRAF's first look: made certain here by a sitecustomize that slows the
    worker after each fork. The worker (or persistent session) restarts itself (a warning
    says so) and the job runs; when every start races, it gives up after 3 with a one-line
    reason."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_SLOW_PARENT)
    calls = daophot.pset_calls({"datapars": {"fwhmpsf": 3.0}})
    with local.env(PYTHONPATH=str(hook)), ToolRegistry(load_config(), sessions) as tools, \
            caplog.at_level(logging.WARNING, logger="ccdphot.wrappers.pyraf"):
        run_iraf(tools.use("iraf"), calls, tmp_path, "raced")
    assert "IRAF job raced: PyRAF start-up restarted (attempt 2 of 3)" in caplog.text
    assert "`/bin/sh -c /bin/ls -1ad [a-y]* 2> /dev/null` exited with code 2" in caplog.text
    with local.env(PYTHONPATH=str(hook), SLOW_EVERY_ATTEMPT="1"), \
            ToolRegistry(load_config(), sessions) as tools, \
            pytest.raises(ToolError, match=r"exit code 3.*start-up failed 3 times") as err:
        run_iraf(tools.use("iraf"), calls, tmp_path, "always")
    assert "\n" not in str(err.value)
