"""SExtractor wrapper: pure parsing of a recorded catalogue, and real runs."""

from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from ccdphot.wrappers import sextractor

from ccdphot.config import load_config
from ccdphot.errors import OutputParseError
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


@pytest.mark.requires_sextractor
def test_real_run_on_ngc6871_reproduces_the_recorded_catalogue(tmp_path, ngc6871_fits):
    import shutil

    shutil.copyfile(ngc6871_fits, tmp_path / "frame.fits")
    config = load_config()
    tool = ToolRegistry(config).resolve("sextractor")
    table = sextractor.run(tool, "frame.fits", tmp_path, detect=config["detect"],
                           zero_point_mag=25.0, gain_e_per_adu=9.0)
    recorded = sextractor.read_catalog(RECORDED)
    assert len(table) == len(recorded)
    np.testing.assert_allclose(table["X_IMAGE"], recorded["X_IMAGE"], atol=1e-3)
    np.testing.assert_allclose(table["MAG_AUTO"], recorded["MAG_AUTO"], atol=1e-3)
    assert table.meta["tool"]["version"] == tool.version
