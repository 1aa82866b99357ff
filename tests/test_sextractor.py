"""SExtractor wrapper: pure parsing of a recorded catalogue, building, and real runs
(ccdphot's own setup and an observer's)."""

import json
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table
from ccdphot.wrappers import sextractor

from ccdphot.config import load_config
from ccdphot.errors import ConfigError, OutputParseError
from ccdphot.tools import ToolRegistry

DATA = Path(__file__).parent / "data"

RECORDED = DATA / "sextractor" / "NGC6871_detections.ldac"


def test_read_catalog_gives_units_and_background_figures():
    table = sextractor.read_catalog(RECORDED)
    assert len(table) == 2394
    assert table["X_IMAGE"].unit == u.pix
    assert table["MAG_AUTO"].unit == u.mag
    assert table["FWHM_IMAGE"].unit == u.pix
    # Figures SExtractor measured on this frame (printed in its log as
    # "Background: 12.6288 RMS: 2.23239 / Threshold: 3.34859").
    assert table.meta["background_adu"] == pytest.approx(12.6288, abs=1e-3)
    assert table.meta["background_rms_adu"] == pytest.approx(2.23239, abs=1e-4)
    assert table.meta["detect_threshold_adu"] == pytest.approx(3.34859, abs=1e-4)
    assert table.meta["gain_e_per_adu"] == 9.0
    assert table.meta["zero_point_mag"] == 25.0


def test_seeing_is_the_robust_fwhm_of_point_sources():
    table = sextractor.read_catalog(RECORDED)
    fwhm, n_stars = sextractor.seeing(table)
    # An independent Gaussian fit (photutils fit_fwhm) of 30 bright isolated
    # stars of this frame gives a median FWHM of 2.09 pix.
    assert fwhm.unit == u.pix
    assert fwhm.value == pytest.approx(2.09, abs=0.1)
    assert n_stars > 300


def test_seeing_without_usable_stars_is_nan():
    table = sextractor.read_catalog(RECORDED)
    table["FLAGS"] = 2
    fwhm, n_stars = sextractor.seeing(table)
    assert np.isnan(fwhm.value) and n_stars == 0


def test_unreadable_catalogue_is_a_parse_error(tmp_path):
    bad = tmp_path / "detections.ldac"
    bad.write_text("not a catalogue")
    with pytest.raises(OutputParseError, match="detections.ldac: not a readable SExtractor"):
        sextractor.read_catalog(bad)


def _settings(path):
    settings = {}
    for line in Path(path).read_text().splitlines():
        fields = line.split("#")[0].split()
        if fields:
            settings[fields[0]] = fields[1] if len(fields) > 1 else ""
    return settings


def test_build_writes_config_with_frame_values(tmp_path):
    config = load_config(data={"detect": {"sextractor": {"DEBLEND_MINCONT": 0.001}}})
    settings = sextractor.ccdphot_settings(config["detect"], 25.0, gain_e_per_adu=9.0,
                                           saturate_adu=32000.0, pixel_scale_arcsec=0.61)
    args = sextractor.Job(None, tmp_path, image_name="frame.fits", settings=settings).build()
    assert args == ["frame.fits", "-c", sextractor.CONFIG_NAME]
    settings = _settings(tmp_path / sextractor.CONFIG_NAME)
    assert settings["GAIN"] == "9.0"
    assert settings["SATUR_LEVEL"] == "32000.0"
    assert settings["PIXEL_SCALE"] == "0.61"
    assert settings["CATALOG_TYPE"] == "FITS_LDAC"
    assert settings["DEBLEND_MINCONT"] == "0.001"
    assert settings["FILTER_NAME"] == "default.conv"
    assert (tmp_path / settings["FILTER_NAME"]).is_file()
    assert (tmp_path / settings["PARAMETERS_NAME"]).read_text() == (
        sextractor.OWN_PARAMS.read_text())


def test_unknown_filter_name_is_a_config_error():
    detect = load_config(data={"detect": {"filter_name": "typo.conv"}})["detect"]
    with pytest.raises(ConfigError, match=r"\[detect\] filter_name = 'typo.conv' is neither"):
        sextractor.ccdphot_settings(detect, 25.0)


def test_parameter_lists_are_merged_by_name():
    text = "# my columns\nNUMBER\nMAG_APER(3)\n#FLAGS\nclass_star  # S/G\n"
    assert sextractor.parameter_names(text) == ["NUMBER", "MAG_APER", "CLASS_STAR"]
    merged = sextractor.merged_parameters(text, ["NUMBER", "MAG_APER", "FLAGS", "X_IMAGE"])
    assert merged.startswith(text)
    assert sextractor.parameter_names(merged)[3:] == ["FLAGS", "X_IMAGE"]
    assert sextractor.merged_parameters(text, ["NUMBER"]) == text


def _observer_setup(folder, sex_text, files=("my.param", "gauss.conv", "my.nnw"),
                    params="NUMBER\nMAG_AUTO\n"):
    folder.mkdir()
    (folder / "my.sex").write_text(sex_text)
    for name in files:
        (folder / name).write_text(params if name.endswith(".param") else "CONV NORM\n1\n")
    return folder / "my.sex"


@pytest.mark.parametrize("missing, line", [("my.param", "line 2: PARAMETERS_NAME my.param"),
                                           ("gauss.conv", "line 4: FILTER_NAME gauss.conv"),
                                           ("my.nnw", "line 5: STARNNW_NAME my.nnw")])
def test_a_missing_file_of_a_user_setup_names_the_file_and_the_line(tmp_path, missing, line):
    sex = _observer_setup(
        tmp_path / "setup", "# mine\nPARAMETERS_NAME my.param\nFILTER Y\n"
        "FILTER_NAME gauss.conv  # 3x3\nSTARNNW_NAME my.nnw\n",
        files=[f for f in ("my.param", "gauss.conv", "my.nnw") if f != missing],
        params="NUMBER\nCLASS_STAR\n")
    with pytest.raises(ConfigError) as info:
        sextractor.Job(None, tmp_path, image_name="frame.fits", config_file=sex).build()
    message = str(info.value)
    assert message.startswith(f"my.sex {line}: no such file")
    assert str(sex.parent / missing) in message and "\n" not in message


def test_a_user_setup_is_kept_as_given_with_what_ccdphot_needs_added(tmp_path):
    sex = _observer_setup(tmp_path / "my setup", "PARAMETERS_NAME my.param\n"
                          "FILTER_NAME gauss.conv\nDETECT_THRESH 3.0  # mine\n"
                          "CATALOG_TYPE ASCII_HEAD\nCATALOG_NAME test.cat\n")
    work = tmp_path / "work"
    work.mkdir()
    sextractor.Job(None, work, image_name="frame.fits", config_file=sex,
                   settings={"DEBLEND_MINCONT": 0.01}).build()
    settings = _settings(work / sextractor.CONFIG_NAME)
    assert settings == {"PARAMETERS_NAME": sextractor.PARAMS_NAME, "FILTER_NAME": "gauss.conv",
                        "DETECT_THRESH": "3.0", "CATALOG_TYPE": "FITS_LDAC",
                        "CATALOG_NAME": sextractor.CATALOG_NAME, "DEBLEND_MINCONT": "0.01"}
    assert (work / "gauss.conv").read_text() == (sex.parent / "gauss.conv").read_text()
    assert not (work / "my.nnw").exists()  # no CLASS_STAR: SExtractor reads no NNW
    params = (work / sextractor.PARAMS_NAME).read_text()
    assert params.startswith("NUMBER\nMAG_AUTO\n")
    assert "FLUX_AUTO" in sextractor.parameter_names(params)


def test_magnitudes_move_onto_the_zero_point_except_undefined_ones():
    table = sextractor.read_catalog(RECORDED)
    table["MAG_AUTO"][0] = 99.0
    moved = sextractor.on_zero_point(table, 26.5)
    assert moved.meta["zero_point_mag"] == 26.5
    np.testing.assert_allclose(moved["MAG_AUTO"][1:], table["MAG_AUTO"][1:] + 1.5, atol=1e-5)
    assert moved["MAG_AUTO"][0] == 99.0
    np.testing.assert_array_equal(moved["MAGERR_AUTO"], table["MAGERR_AUTO"])
    assert table["MAG_AUTO"][1] < 90 and sextractor.on_zero_point(table, 25.0) is table


@pytest.mark.requires_sextractor
def test_real_run_on_ngc6871_reproduces_the_recorded_catalogue(tmp_path, ngc6871_fits):
    import shutil

    shutil.copyfile(ngc6871_fits, tmp_path / "frame.fits")
    config = load_config()
    tool = ToolRegistry(config).resolve("sextractor")
    result = sextractor.Job(tool, tmp_path, image_name="frame.fits", settings=(
        sextractor.ccdphot_settings(config["detect"], 25.0, gain_e_per_adu=9.0))).run()
    table = result.table
    recorded = sextractor.read_catalog(RECORDED)
    assert len(table) == len(recorded)
    np.testing.assert_allclose(table["X_IMAGE"], recorded["X_IMAGE"], atol=1e-3)
    np.testing.assert_allclose(table["MAG_AUTO"], recorded["MAG_AUTO"], atol=1e-3)
    assert table.meta["tool"]["version"] == tool.version
    assert result.run.argv[-3:] == ("frame.fits", "-c", sextractor.CONFIG_NAME)
    assert result.figures["aperture_diameters_pix"] == [8.0]
    assert result.figures["background_adu"] == table.meta["background_adu"]


# The Debian package's own files, used as an observer's setup unlike ccdphot's
# (DETECT_MINAREA 3, PHOT_APERTURES 5, MAG_ZEROPOINT 0, GAIN/SATURATE from the
# header, CLASS_STAR with its NNW). They stay in /usr/share: copied at test time.
DEBIAN_SEXTRACTOR = Path("/usr/share/source-extractor")
OBSERVER_COLUMNS = ("NUMBER", "X_IMAGE", "Y_IMAGE", "MAG_AUTO", "MAGERR_AUTO", "MAG_APER",
                    "FWHM_IMAGE", "CLASS_STAR")


@pytest.fixture(scope="module")
def observer_setup(tmp_path_factory, ngc6871_fits):
    """default.sex/.conv/.nnw as installed, and default.param with the observer's
    columns uncommented; the frame beside them, as an observer keeps it."""
    import shutil

    folder = tmp_path_factory.mktemp("observer") / "my sextractor setup"
    folder.mkdir()
    for name in ("default.sex", "default.conv", "default.nnw"):
        shutil.copyfile(DEBIAN_SEXTRACTOR / name, folder / name)
    lines = (DEBIAN_SEXTRACTOR / "default.param").read_text().splitlines()
    chosen = [line[1:].split()[0] for line in lines
              if line.startswith("#") and line[1:].split()[:1] in [[c] for c in OBSERVER_COLUMNS]]
    assert sorted(chosen) == sorted(OBSERVER_COLUMNS)
    (folder / "default.param").write_text("\n".join(chosen) + "\n")
    shutil.copyfile(ngc6871_fits, folder / "NGC6871.fits")
    return folder


@pytest.mark.requires_sextractor
def test_an_observers_setup_gives_the_catalogue_of_bare_sextractor(observer_setup, tmp_path):
    import subprocess

    from ccdphot.cli.main import main

    tool = ToolRegistry(load_config()).resolve("sextractor")
    subprocess.run([*tool.argv, "NGC6871.fits", "-c", "default.sex"], cwd=observer_setup,
                   check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
    bare = Table.read(observer_setup / "test.cat", format="ascii.sextractor")
    assert main(["run", str(observer_setup / "NGC6871.fits"), "--steps", "detect",
                 "--out", str(tmp_path), "--sextractor-config",
                 str(observer_setup / "default.sex")]) == 0
    out = tmp_path / "NGC6871"
    ours = Table.read(out / "work" / "detections.ldac", hdu="LDAC_OBJECTS")
    assert len(ours) == len(bare) > 3000
    np.testing.assert_array_equal(ours["NUMBER"], bare["NUMBER"])
    for name in ("X_IMAGE", "Y_IMAGE", "MAG_AUTO", "MAGERR_AUTO", "MAG_APER"):
        np.testing.assert_allclose(ours[name], bare[name], atol=1e-4, rtol=0, err_msg=name)
    np.testing.assert_allclose(ours["CLASS_STAR"], bare["CLASS_STAR"], atol=1e-3)
    # the unified table is on [photometry] zero_point_mag (25), default.sex's is 0
    table = Table.read(out / "photometry.ecsv")
    defined = bare["MAG_AUTO"] < 90
    np.testing.assert_allclose(table["MAG_AUTO"][defined], bare["MAG_AUTO"][defined] + 25.0,
                               atol=1e-4)
    assert table.meta["MAG_APER_SOURCE"] == "SExtractor, diameter 5 pix"
    record = json.loads((out / "run.json").read_text())
    assert record["config"]["detect"]["sextractor_config"] == str(observer_setup /
                                                                  "default.sex")
    assert not list(observer_setup.glob("*.ldac"))  # the observer's folder is untouched
