"""``ccdphot psfstars``: the PSF-star list of a frame, its DS9 regions and mosaic, and the
psf step taking the list back (NGC 6871 frame, bundled)."""

import numpy as np
import pytest

from ccdphot.config import load_config
from ccdphot.daophot.daophot2_files import read_daophot_lst
from ccdphot.daophot.psfstars import psf_numbers_from_list
from ccdphot.errors import InputError
from ccdphot.frame.pipeline import run_frame
from ccdphot.stack.psfstars import LST_NAME, MOSAIC_NAME, REGION_NAME, write_psf_stars
from ccdphot.wrappers.sextractor import read_catalog


@pytest.fixture(scope="module")
def config():
    return load_config(data={"plots": {"qc": False}})


@pytest.fixture(scope="module")
def results(ngc6871_fits, config, tmp_path_factory):
    """RESULTS/NGC6871 after the header and detect steps."""
    out = tmp_path_factory.mktemp("results")
    return run_frame(ngc6871_fits, config, steps=["header", "detect"], out=out).out_dir


@pytest.fixture(scope="module")
def exported(results, config):
    return write_psf_stars(results, config)


@pytest.mark.requires_sextractor
def test_psf_star_list_regions_and_mosaic(exported, results, config):
    assert exported["files"] == [results / LST_NAME, results / REGION_NAME, results / MOSAIC_NAME]
    stars = read_daophot_lst(results / LST_NAME)
    assert len(stars) == config["psf"]["n_stars"] == exported["n_stars"]
    assert stars.meta["nx"] == 1250 and stars.meta["ny"] == 1150
    assert stars.meta["gain_e_per_adu"] == pytest.approx(9.0)
    assert stars.meta["high_bad_adu"] == pytest.approx(32000.0)
    regions = (results / REGION_NAME).read_text().splitlines()
    assert regions[2] == "image" and len(regions) == 3 + len(stars)
    assert regions[3].startswith(f"circle({stars['X'][0]:.3f},{stars['Y'][0]:.3f},")
    assert (results / MOSAIC_NAME).stat().st_size > 20000


@pytest.mark.requires_sextractor
def test_psf_stars_are_spread_over_the_chip(exported):
    stars = exported["stars"]
    cells = {(int((x - 1) * 3 // 1250), int((y - 1) * 3 // 1150))
             for x, y in zip(stars["X"], stars["Y"])}
    assert len(cells) == 9
    # isolated and unsaturated among the detections
    assert np.all(np.asarray(stars["MAG"]) > 10.0)


@pytest.mark.requires_sextractor
def test_list_matches_back_to_the_detections(exported, results):
    detections = read_catalog(results / "work" / "detections.ldac")
    numbers = psf_numbers_from_list(results / LST_NAME, detections)
    assert list(numbers) == list(exported["stars"]["ID"])


@pytest.mark.requires_sextractor
def test_psfstars_of_an_image(ngc6871_fits, config, tmp_path):
    result = write_psf_stars(ngc6871_fits, config, out_dir=tmp_path / "psf stars", grid=1)
    stars = read_daophot_lst(tmp_path / "psf stars" / LST_NAME)
    assert result["frame"] == "NGC6871" and len(stars) == result["n_stars"] == 40
    assert sorted(p.name for p in (tmp_path / "psf stars").iterdir()) == sorted(
        [LST_NAME, REGION_NAME, MOSAIC_NAME])


@pytest.mark.requires_sextractor
@pytest.mark.requires_iraf
def test_psf_step_uses_the_list(exported, results, ngc6871_fits, tmp_path):
    config = load_config(data={"plots": {"qc": False},
                               "psf": {"stars_file": str(results / LST_NAME), "iterations": 1}})
    done = run_frame(ngc6871_fits, config, steps=["header", "detect", "psf"], out=tmp_path)
    details = done.record["details"]["psf"]
    assert details["psf_star_selection"] == "list"
    assert details["n_psf_stars_given"] == exported["n_stars"]


def test_psfstars_needs_a_results_folder_with_detections(tmp_path, config):
    (tmp_path / "photometry.ecsv").write_text("")
    with pytest.raises(InputError, match="detections.ldac: missing"):
        write_psf_stars(tmp_path, config)


@pytest.mark.requires_sextractor
def test_a_list_of_another_frame_is_refused(results, tmp_path):
    (tmp_path / "other.lst").write_text(
        " NL    NX    NY  LOWBAD HIGHBAD  THRESH     AP1  PH/ADU  RNOISE    FRAD\n"
        "  3  1250  1150     0.0     0.0    0.00    0.00    0.00    0.00    0.00\n\n"
        "      1 5000.000 5000.000   12.000    0.010\n")
    detections = read_catalog(results / "work" / "detections.ldac")
    with pytest.raises(InputError, match="another frame"):
        psf_numbers_from_list(tmp_path / "other.lst", detections)
