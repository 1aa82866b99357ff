"""Bad input: one clear line, non-zero exit, input untouched, products kept."""

import hashlib
import json
import os
import shutil

import numpy as np
import pytest
from astropy.io import fits


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_failure(done, *phrases):
    assert done.returncode != 0
    err = done.stderr.strip().splitlines()
    assert err, "no error message"
    last = err[-1]
    assert last.startswith("ccdphot: error: "), done.stderr
    assert "Traceback" not in done.stderr
    for phrase in phrases:
        assert phrase in last, (phrase, last)
    return last


def test_nonexistent_path(tmp_path, ccdphot_cli):
    done = ccdphot_cli("run", tmp_path / "missing.fits", "--out", tmp_path / "R")
    _check_failure(done, "missing.fits: no such file")
    assert not (tmp_path / "R" / "missing").exists()


def test_file_that_is_not_fits(tmp_path, ccdphot_cli):
    bad = tmp_path / "notes.fits"
    bad.write_text("observing notes, not an image\n" * 20)
    before = sha256(bad)
    done = ccdphot_cli("run", bad, "--out", tmp_path / "R")
    _check_failure(done, "notes.fits: not a readable FITS file", "give a FITS image")
    assert sha256(bad) == before
    record = json.loads((tmp_path / "R" / "notes" / "run.json").read_text())
    assert record["status"].startswith("failed at input: ")


def test_fits_without_image_data(tmp_path, ccdphot_cli):
    path = tmp_path / "table only.fits"
    table = fits.BinTableHDU.from_columns([fits.Column(name="a", format="E", array=[1.0])])
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    done = ccdphot_cli("run", path, "--out", tmp_path / "R")
    _check_failure(done, "table only.fits: FITS file without image data")


def test_data_cube(tmp_path, ccdphot_cli):
    path = tmp_path / "cube.fits"
    fits.PrimaryHDU(np.ones((3, 20, 20), dtype=np.float32)).writeto(path)
    done = ccdphot_cli("run", path, "--out", tmp_path / "R")
    _check_failure(done, "cube.fits: a 3-D data cube of shape (3, 20, 20)", "split")


def test_single_plane_cube_is_accepted_as_a_frame(tmp_path):
    from ccdphot.fitsio import read_frame

    path = tmp_path / "plane.fits"
    fits.PrimaryHDU(np.arange(400, dtype=np.float32).reshape(1, 20, 20)).writeto(path)
    data, _, _ = read_frame(path)
    assert data.shape == (20, 20)


@pytest.mark.parametrize("fill", [0.0, np.nan])
def test_image_without_usable_pixels(tmp_path, ccdphot_cli, fill):
    path = tmp_path / "empty.fits"
    fits.PrimaryHDU(np.full((50, 50), fill, dtype=np.float32)).writeto(path)
    done = ccdphot_cli("run", path, "--out", tmp_path / "R")
    _check_failure(done, "empty.fits: no usable pixel values")


@pytest.mark.requires_sextractor
def test_path_with_spaces_and_shell_characters(tmp_path, ngc6871_fits, ccdphot_cli):
    odd_dir = tmp_path / "my frames; $(touch pwned)"
    odd_dir.mkdir()
    path = odd_dir / "a b;$(touch pwned2).fits"
    shutil.copyfile(ngc6871_fits, path)
    before = sha256(path)
    out = tmp_path / "out dir $(x)"
    done = ccdphot_cli("run", path, "--steps", "detect", "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (out / "a b;$(touch pwned2)" / "photometry.ecsv").is_file()
    assert sha256(path) == before
    assert not list(tmp_path.rglob("pwned*"))


def test_unwritable_output_directory(tmp_path, frame_copy, ccdphot_cli):
    blocker = tmp_path / "results-file"
    blocker.write_text("a file where the results directory should go")
    done = ccdphot_cli("run", frame_copy, "--out", blocker)
    _check_failure(done, "cannot write results to", "choose a writable directory with --out")


def _tool_config(tmp_path, body):
    script = tmp_path / "fake-sextractor"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    config = tmp_path / "tool.toml"
    config.write_text(f'[tools.sextractor]\ncommand = ["{script}"]\nversion_args = []\n'
                      'min_version = ""\ntimeout_s = 2\n')
    return config


def _check_kept_products(out_dir, step):
    record = json.loads((out_dir / "run.json").read_text())
    assert record["status"].startswith(f"failed at {step}: ")
    steps = {s["name"]: s["status"] for s in record["steps"]}
    assert steps["input"] == "ok" and steps[step] == "failed"
    assert (out_dir / "work" / "frame.fits").is_file()
    log = (out_dir / "ccdphot.log").read_text()
    assert f"--- {step} failed" in log
    return record


def test_missing_tool(tmp_path, frame_copy, ccdphot_cli):
    config = tmp_path / "missing.toml"
    config.write_text('[tools.sextractor]\ncommand = ["no-such-source-extractor"]\n')
    before = sha256(frame_copy)
    done = ccdphot_cli("run", frame_copy, "--steps", "detect", "--config", config,
                       "--out", tmp_path / "R")
    _check_failure(done, "SExtractor", "'no-such-source-extractor' not found on PATH",
                   "apt-get install source-extractor")
    assert sha256(frame_copy) == before
    _check_kept_products(tmp_path / "R" / "NGC6871", "detect")


def test_crashing_tool(tmp_path, frame_copy, ccdphot_cli):
    config = _tool_config(tmp_path, 'echo "*ERROR*: segmentation violation" >&2\nexit 139\n')
    done = ccdphot_cli("run", frame_copy, "--steps", "detect", "--config", config,
                       "--out", tmp_path / "R")
    _check_failure(done, "SExtractor: failed", "exit code 139", "segmentation violation")
    _check_kept_products(tmp_path / "R" / "NGC6871", "detect")


def test_tool_that_times_out(tmp_path, frame_copy, ccdphot_cli):
    config = _tool_config(tmp_path, "exec sleep 60\n")
    done = ccdphot_cli("run", frame_copy, "--steps", "detect", "--config", config,
                       "--out", tmp_path / "R")
    _check_failure(done, "SExtractor: did not finish within 2 s", "timeout_s")
    _check_kept_products(tmp_path / "R" / "NGC6871", "detect")


def test_unknown_or_unavailable_step_is_refused_before_running(tmp_path, frame_copy,
                                                               ccdphot_cli):
    done = ccdphot_cli("run", frame_copy, "--steps", "detect,photometry", "--out",
                       tmp_path / "R")
    _check_failure(done, "unknown step(s) photometry")
    assert not (tmp_path / "R").exists()


def test_bad_config_file_is_one_line(tmp_path, frame_copy, ccdphot_cli):
    config = tmp_path / "typo.toml"
    config.write_text("[detect]\nthreshold = 2\n")
    done = ccdphot_cli("run", frame_copy, "--config", config, "--out", tmp_path / "R")
    _check_failure(done, "unknown configuration key 'detect.threshold'")


def test_one_bad_frame_does_not_stop_the_others(tmp_path, frame_copy, ccdphot_cli):
    bad = tmp_path / "bad.fits"
    bad.write_bytes(os.urandom(5000))
    done = ccdphot_cli("run", bad, frame_copy, "--steps", "detect", "--out", tmp_path / "R")
    assert done.returncode == 1
    assert "NGC6871: ok" in done.stdout
    assert (tmp_path / "R" / "NGC6871" / "photometry.ecsv").is_file()


def test_missing_sextractor_config_option_file(tmp_path, frame_copy, ccdphot_cli):
    done = ccdphot_cli("run", frame_copy, "--sextractor-config", tmp_path / "mine.sex",
                       "--out", tmp_path / "R")
    _check_failure(done, "--sextractor-config", "mine.sex: no such file")
    assert not (tmp_path / "R").exists()


@pytest.mark.requires_sextractor
@pytest.mark.parametrize("option, phrases", [
    ("detect.filter_name=typo.conv", ["[detect] filter_name = 'typo.conv' is neither"]),
    ("detect.sextractor_config={sex}", ["my.sex line 2: FILTER_NAME gauss_9x9.conv: no such "
                                        "file", "put the file beside my.sex"]),
])
def test_missing_sextractor_file_fails_the_detect_step(tmp_path, frame_copy, ccdphot_cli,
                                                       option, phrases):
    sex = tmp_path / "setup" / "my.sex"
    sex.parent.mkdir()
    sex.write_text("PARAMETERS_NAME my.param\nFILTER_NAME gauss_9x9.conv\n")
    (sex.parent / "my.param").write_text("NUMBER\n")
    done = ccdphot_cli("run", frame_copy, "--steps", "detect", "-o", option.format(sex=sex),
                       "--out", tmp_path / "R")
    _check_failure(done, *phrases)
    _check_kept_products(tmp_path / "R" / "NGC6871", "detect")
