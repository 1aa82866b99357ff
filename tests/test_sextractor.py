"""SExtractor wrapper: pure parsing of a recorded catalogue, building, and real runs
(ccdphot's own setup and an observer's), checked against source-extractor run by hand
inside the test on the same frame with the same files (the truth is never a catalogue
ccdphot made)."""

import json
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import Table
from ccdphot.wrappers import sextractor

import ccdphot
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
    # stars of this frame gives a median FWHM of 2.09 pix (2.11 with photutils 3.0 on
    # the 30 brightest unsaturated legacy ALLSTAR stars without a neighbour within 10
    # pix). Without the point-source selection the clipped median of every detection's
    # FWHM_IMAGE is 2.18 pix: the tolerance tells the two apart.
    assert fwhm.unit == u.pix
    assert fwhm.value == pytest.approx(2.09, abs=0.05)
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


# -- ccdphot's detect step against a bare source-extractor run ------------------------------

# A user config whose every value differs from the shipped ccdphot.sex template, so a
# setting that does not reach the tool shows; the 16-pixel aperture gives some faint
# stars a negative flux (MAG_APER 99.0 in SExtractor, masked in ccdphot's table).
DETECT_CONFIG = {"detect": {"detect_thresh_sigma": 2.0, "detect_minarea_pix": 4,
                            "aperture_diameters_pix": [16.0], "back_size_pix": 48,
                            "back_filtersize": 5, "crowded": {"enabled": False}},
                 "photometry": {"zero_point_mag": 24.5}}
# Settings the bare run gets on its command line, as ccdphot's documentation gives them:
# [detect] and [photometry] of that config, GAIN and SATURATE of the frame header.
_DETECT_OPTIONS = {"DETECT_THRESH": "detect_thresh_sigma",
                   "ANALYSIS_THRESH": "detect_thresh_sigma",
                   "DETECT_MINAREA": "detect_minarea_pix",
                   "BACK_SIZE": "back_size_pix",
                   "BACK_FILTERSIZE": "back_filtersize"}
_COMPARED = ("X_IMAGE", "Y_IMAGE", "MAG_AUTO", "MAGERR_AUTO", "MAG_APER", "MAGERR_APER",
             "FWHM_IMAGE", "FLAGS")


def _bare_source_extractor(folder, frame):
    """source-extractor run by hand on ``frame`` with ccdphot's shipped parameter files.

    Returns the raw LDAC objects (read with astropy, not with ccdphot's parser) and
    the figures the tool printed ("Background: ... RMS: ... / Threshold: ...").
    """
    folder.mkdir()
    shutil.copyfile(frame, folder / "frame.fits")  # SExtractor cannot take paths with spaces
    shipped = resources.files("ccdphot.default_params").joinpath("sextractor")
    for name in ("ccdphot.sex", "ccdphot.param", "default.conv"):
        (folder / name).write_bytes(shipped.joinpath(name).read_bytes())
    config = load_config(data=DETECT_CONFIG)
    detect = config["detect"]
    header = fits.getheader(frame)
    argv = ["source-extractor", "frame.fits", "-c", "ccdphot.sex",
            "-CATALOG_NAME", "bare.ldac", "-CATALOG_TYPE", "FITS_LDAC",
            "-PARAMETERS_NAME", "ccdphot.param", "-FILTER_NAME", detect["filter_name"],
            "-PHOT_APERTURES", ",".join(f"{d:g}" for d in detect["aperture_diameters_pix"]),
            "-MAG_ZEROPOINT", str(config["photometry"]["zero_point_mag"]),
            "-GAIN", str(header["GAIN"]), "-SATUR_LEVEL", str(header["SATURATE"])]
    for option, key in _DETECT_OPTIONS.items():
        argv += [f"-{option}", str(detect[key])]
    done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, check=True)
    printed = re.search(r"Background: ([-\d.]+)\s+RMS: ([-\d.]+)\s+/ Threshold: ([-\d.]+)",
                        done.stderr)
    objects = Table.read(folder / "bare.ldac", hdu="LDAC_OBJECTS")
    return objects, [float(v) for v in printed.groups()]


@pytest.fixture(scope="module")
def detect_and_bare(tmp_path_factory, ngc6871_fits):
    """`ccdphot run --steps detect` (the API) and a bare run, on the same frame."""
    tmp = tmp_path_factory.mktemp("detect_vs_bare")
    result = ccdphot.run(ngc6871_fits, config=DETECT_CONFIG, steps=["detect"],
                         out=tmp / "RESULTS")
    bare, printed = _bare_source_extractor(tmp / "bare", ngc6871_fits)
    return result, bare, printed


@pytest.mark.requires_sextractor
def test_detect_step_gives_what_bare_source_extractor_gives(detect_and_bare):
    result, bare, _ = detect_and_bare
    product = Table.read(result.out_dir / "photometry.ecsv")
    assert product.meta["MAG_APER_SOURCE"] == "SExtractor, diameter 16 pix"
    assert len(bare) > 2000 and list(product["NUMBER"]) == list(bare["NUMBER"])
    assert (np.asarray(bare["MAG_APER"]) >= 99.0).sum() > 0  # the undefined case occurs
    for name in _COMPARED:
        truth = np.asarray(bare[name], float)
        if truth.ndim == 2:  # MAG_APER of the first diameter
            truth = truth[:, 0]
        # SExtractor's 99.0 where a magnitude is undefined: masked in the product
        undefined = (truth >= 99.0) if name.startswith("MAG") else np.zeros(len(truth), bool)
        values = product[name]
        assert np.array_equal(np.ma.getmaskarray(values), undefined), name
        np.testing.assert_allclose(np.ma.getdata(values)[~undefined], truth[~undefined],
                                   rtol=0, atol=1e-4, err_msg=name)
    assert product["X_IMAGE"].unit == u.pix and product["MAG_AUTO"].unit == u.mag
    assert result.record["tools"]["sextractor"]["argv"] == ["source-extractor"]


@pytest.mark.requires_sextractor
def test_detect_step_reports_the_background_source_extractor_printed(detect_and_bare):
    result, _, (background, rms, _) = detect_and_bare
    qc = result.record["qc"]
    assert qc["background_adu"] == pytest.approx(background, abs=1e-4)
    assert qc["background_rms_adu"] == pytest.approx(rms, abs=1e-4)


@pytest.mark.requires_sextractor
def test_job_on_the_shipped_setup_gives_what_bare_source_extractor_gives(detect_and_bare,
                                                                         tmp_path,
                                                                         ngc6871_fits):
    _, bare, _ = detect_and_bare
    shutil.copyfile(ngc6871_fits, tmp_path / "frame.fits")
    config = load_config(data=DETECT_CONFIG)
    header = fits.getheader(ngc6871_fits)
    tool = ToolRegistry(config).resolve("sextractor")
    result = sextractor.Job(tool, tmp_path, image_name="frame.fits", settings=(
        sextractor.ccdphot_settings(config["detect"], config["photometry"]["zero_point_mag"],
                                    gain_e_per_adu=header["GAIN"],
                                    saturate_adu=header["SATURATE"]))).run()
    table = result.table
    assert list(table["NUMBER"]) == list(bare["NUMBER"])
    for name in ("X_IMAGE", "Y_IMAGE", "MAG_AUTO", "MAGERR_AUTO"):
        np.testing.assert_allclose(table[name], bare[name], atol=1e-4, rtol=0, err_msg=name)
    assert table.meta["tool"]["version"] == tool.version
    assert result.run.argv[-3:] == ("frame.fits", "-c", sextractor.CONFIG_NAME)
    assert result.figures["aperture_diameters_pix"] == [16.0]
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
