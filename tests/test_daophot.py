"""DAOPHOT/ALLSTAR through PyRAF: the aperture and psf steps, --legacy, the PyRAF runner.

The IRAF chain runs once per fixture on the real NGC 6871 frame: the default
(automatic) run and the reproduction of the frame's legacy DAOPHOT II
reduction. Parsers are also tested on recorded IRAF output.
"""

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from ccdphot.wrappers import daophot
from ccdphot.wrappers.pyraf import run_iraf

import ccdphot
from ccdphot.daophot import files as daophot_files
from ccdphot.config import load_config
from ccdphot.daophot.legacy_comparison import compare_to_legacy
from ccdphot.errors import ConfigError, InputError, ToolError, ToolNotFoundError
from ccdphot.tools import ToolRegistry

DATA = Path(__file__).parent / "data"
STEPS = ["header", "detect", "aperture", "psf"]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory, ngc6871_fits):
    out = tmp_path_factory.mktemp("daophot_default")
    return ccdphot.run(ngc6871_fits, steps=STEPS, out=out)


@pytest.fixture(scope="module")
def legacy_run(tmp_path_factory, ngc6871_fits, ngc6871_dir):
    out = tmp_path_factory.mktemp("daophot_legacy")
    return ccdphot.run(ngc6871_fits, steps=STEPS, out=out,
                       options={"legacy_dir": str(ngc6871_dir)})


# -- pure: parameters and parsers ---------------------------------------------------------

def test_psets_layers_and_frame_values():
    frame = daophot.frame_psets(2.5, gain_e_per_adu=9.0, readnoise_e=15.3, saturate_adu=31000,
                                sky_sigma_adu=2.2, header_keys=["AIRMASS", "FILTER"])
    psets = daophot.merge_psets(frame, {"photpars": {"apertures": [3.0, 5.0]}},
                                {"daopars": {"fitrad": 7.0}})
    assert set(psets) == set(daophot.PSETS)
    dp = psets["datapars"]
    assert (dp["fwhmpsf"], dp["epadu"], dp["readnoise"], dp["datamax"], dp["sigma"]) == \
        (2.5, 9.0, 15.3, 31000.0, 2.2)
    assert (dp["airmass"], dp["filter"], dp["obstime"]) == ("AIRMASS", "FILTER", "")
    assert dp["itime"] == 1.0 and dp["exposure"] == ""  # no exposure-time normalisation
    assert psets["daopars"]["fitrad"] == 7.0
    assert daophot.aperture_radii(psets) == [3.0, 5.0]
    assert daophot.aperture_radii({"photpars": {"apertures": "8.0, 12"}}) == [8.0, 12.0]


def test_unknown_pset_or_parameter_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown DAOPHOT parameter set 'fitpars'"):
        daophot.merge_psets({"fitpars": {"x": 1}})
    with pytest.raises(ConfigError, match="fitradius in daopars"):
        daophot.merge_psets({"daopars": {"fitradius": 3.0}})


def test_read_psf_log_auto_and_single_function():
    auto = daophot.read_psf_log(DATA / "daophot" / "psf_auto.log")
    assert auto["function"] == "penny2"
    assert set(auto["scatter"]) == set(daophot.PSF_FUNCTIONS)
    assert auto["scatter"]["penny2"] == pytest.approx(0.02581823)
    assert auto["n_stars"] == 40
    gauss = daophot.read_psf_log(DATA / "daophot" / "psf_gauss.log")
    assert gauss["function"] == "gauss" and list(gauss["scatter"]) == ["gauss"]
    assert gauss["n_stars"] == 60


def test_pst_file_round_trip(tmp_path):
    path = daophot.write_pst(tmp_path / "stars.pst", [7, 3], [10.5, 200.25], [20.0, 30.125],
                             [12.43, 13.5], [12.6, 12.7])
    lines = path.read_text().splitlines()
    assert lines[1].startswith("#N ID    XCENTER   YCENTER   MAG")
    rows = [line.split() for line in lines if not line.startswith("#")]
    assert rows == [["7", "10.500", "20.000", "12.430", "12.6"],
                    ["3", "200.250", "30.125", "13.500", "12.7"]]


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
    psets = daophot.merge_psets({"photpars": {"apertures": [3.0]}})
    errors = []

    def job(name, radius):
        psets_job = daophot.merge_psets(psets, {"photpars": {"apertures": [radius]}})
        try:
            daophot.run(tool, tmp_path, name, psets_job,
                        [daophot.phot_call("cut.fits", f"{name}.xy", f"{name}.mag")],
                        expect=[f"{name}.mag"])
        except Exception as err:  # collected and re-raised in the main thread
            errors.append(err)

    threads = [threading.Thread(target=job, args=(n, r)) for n, r in (("a", 3.0), ("b", 5.0))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    a = daophot_files.read_iraf_daophot(tmp_path / "a.mag")
    b = daophot_files.read_iraf_daophot(tmp_path / "b.mag")
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
    psets = daophot.merge_psets({"datapars": {"fwhmpsf": 2.1, "sigma": 2.2},
                                 "daopars": {"psfrad": 8.0, "fitrad": 2.0}})
    daophot.run(tool, tmp_path, "blank", psets, [
        daophot.phot_call("cut.fits", "sky.xy", "sky.mag"),
        daophot.psf_call("cut.fits", "sky.mag", "sky.pst", "sky_psf.fits", "out.pst", "out.psg",
                         "psf.log")], expect=["sky_psf.fits"])
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
    assert measured.sum() > 0.95 * len(table)
    # the working copy of the frame is what IRAF measured: compare one bright star by hand
    phot = daophot_files.read_iraf_daophot(default_run.out_dir / "work" / "aperture.mag")
    bright = int(np.nanargmin(np.ma.filled(phot["MAG"], np.nan)))
    row = np.flatnonzero(table["NUMBER"] == table["NUMBER"][bright])[0]
    assert table["MAG_APER"][row] == pytest.approx(float(phot["MAG"][bright]))


@pytest.mark.requires_iraf
@pytest.mark.requires_sextractor
def test_psf_step_products_and_figures(default_run):
    work = default_run.out_dir / "work"
    for name in ("psf_model.fits", "psf_stars.pst", "allstar.als", "residual.fits",
                 "psf_iter1.log", "psf_iter2.log"):
        assert (work / name).is_file(), name
    details = default_run.record["details"]["psf"]
    assert details["psf_star_selection"] == "automatic"
    assert [it["iteration"] for it in details["iterations"]] == [1, 2]
    for iteration in details["iterations"]:
        assert iteration["function"] in daophot.PSF_FUNCTIONS
        assert 5 <= iteration["n_psf_stars"] <= 40
        assert 0 < iteration["scatter"] < 0.1
    assert details["model"]["function"] == default_run.record["qc"]["psf_function"]
    header = fits.getheader(work / "psf_model.fits")
    assert header["NPSFSTAR"] == details["model"]["n_psf_stars"]


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
def test_neighbour_subtracted_aperture_photometry(tmp_path, ngc6871_fits, default_run):
    config = load_config(data={"aperture": {"subtract_neighbours": True}})
    result = ccdphot.run(ngc6871_fits, config=config, steps=STEPS, out=tmp_path)
    table, plain = result.table, default_run.table
    assert "ALLSTAR models of all other stars subtracted" in table.meta["MAG_APER_SOURCE"]
    psf_step = next(step for step in result.record["steps"] if step["name"] == "psf")
    assert psf_step["figures"]["n_aperture_without_neighbours"] > 2300
    both = ~table["MAG_APER"].mask & ~plain["MAG_APER"].mask
    assert list(table["NUMBER"]) == list(plain["NUMBER"])
    delta = np.asarray(table["MAG_APER"] - plain["MAG_APER"], float)
    bright = both & (np.asarray(plain["MAG_APER"], float) < 16)
    faint = both & (np.asarray(plain["MAG_APER"], float) > 18)
    # bright stars barely change; faint ones lose their neighbours' light (fainter/brighter
    # by several hundredths) -- the own model put back keeps the scale unchanged
    assert abs(np.median(delta[bright])) < 0.005
    assert np.percentile(np.abs(delta[faint]), 90) > 0.02


@pytest.mark.requires_iraf
@pytest.mark.requires_sextractor
def test_automatic_psf_photometry_agrees_with_the_legacy_allstar(default_run, ngc6871_dir):
    legacy = daophot_files.read_daophot_als(ngc6871_dir / "NGC6871.als")
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
    coo = daophot_files.read_daophot_coo(ngc6871_dir / "NGC6871.coo")
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
