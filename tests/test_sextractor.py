"""SExtractor: pure parsing of a recorded catalogue, and the detect step on a real frame
checked against source-extractor run by hand inside the test (the truth is never a
catalogue ccdphot made)."""

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
from ccdphot.errors import OutputParseError

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


def test_build_writes_config_with_frame_values(tmp_path):
    config = load_config(data={"detect": {"sextractor": {"DEBLEND_MINCONT": 0.001}}})
    name = sextractor.build(tmp_path, detect=config["detect"], zero_point_mag=25.0,
                            gain_e_per_adu=9.0, saturate_adu=32000.0, pixel_scale_arcsec=0.61)
    settings = {}
    for line in (tmp_path / name).read_text().splitlines():
        fields = line.split("#")[0].split()
        if fields:
            settings[fields[0]] = fields[1] if len(fields) > 1 else ""
    assert settings["GAIN"] == "9.0"
    assert settings["SATUR_LEVEL"] == "32000.0"
    assert settings["PIXEL_SCALE"] == "0.61"
    assert settings["CATALOG_TYPE"] == "FITS_LDAC"
    assert settings["DEBLEND_MINCONT"] == "0.001"
    assert (tmp_path / settings["FILTER_NAME"]).is_file()
    assert (tmp_path / settings["PARAMETERS_NAME"]).is_file()


# -- ccdphot's detect step against a bare source-extractor run ------------------------------

# A user config whose every value differs from the shipped ccdphot.sex template, so a
# setting that does not reach the tool shows; the 16-pixel aperture gives some faint
# stars a negative flux (MAG_APER 99.0 in SExtractor, masked in ccdphot's table).
DETECT_CONFIG = {"detect": {"detect_thresh_sigma": 2.0, "detect_minarea_pix": 4,
                            "aperture_diameters_pix": [16.0], "back_size_pix": 48,
                            "back_filtersize": 5},
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
    assert product.meta["MAG_APER_SOURCE"] == "SExtractor, diameter 16.0 pix"
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
