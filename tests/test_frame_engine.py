"""The per-frame engine as a service relies on it: honest statuses, no state that
leaks from one frame to the next, and the versioned product contract."""

import json
import shutil

import numpy as np
import pytest
from astropy.table import Table

from ccdphot.cli.main import main
from ccdphot.config import load_config
from ccdphot.errors import InputError, StepFailedError
from ccdphot.frame import pipeline
from ccdphot.frame.steps import detect as detect_step
from ccdphot.products import PHOTOMETRY_SCHEMA, RUN_SCHEMA, read_frame_products
from ccdphot.tools import ToolRegistry


def _record(result_dir):
    return json.loads((result_dir / "run.json").read_text())


@pytest.fixture
def three_frames(tmp_path, ngc6871_fits):
    """Three copies of the NGC 6871 frame under different names."""
    folder = tmp_path / "in"
    folder.mkdir()
    frames = []
    for name in ("a.fits", "b.fits", "c.fits"):
        shutil.copyfile(ngc6871_fits, folder / name)
        frames.append(folder / name)
    return frames


@pytest.mark.requires_sextractor
def test_a_foreign_exception_fails_only_its_frame(three_frames, tmp_path, monkeypatch, capsys):
    """A KeyError raised inside the detect step of the middle frame: that frame is
    'failed at detect: KeyError: ...' with its products so far, the others are ok,
    the command exits non-zero."""
    calls = []
    real = detect_step.new_unified

    def new_unified_failing_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyError("X_WORLD")
        return real(*args, **kwargs)

    monkeypatch.setattr(detect_step, "new_unified", new_unified_failing_once)
    out = tmp_path / "RESULTS"
    code = main(["run", *map(str, three_frames), "--steps", "header,detect", "--out", str(out)])
    assert code == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("a: ok") and lines[2].startswith("c: ok")
    assert lines[1].startswith("b: failed at detect: KeyError: 'X_WORLD'")
    failed = _record(out / "b")
    assert failed["status"] == "failed at detect: KeyError: 'X_WORLD'"
    steps = {step["name"]: step["status"] for step in failed["steps"]}
    assert steps == {"input": "ok", "header": "ok", "detect": "failed", "write": "ok"}
    assert (out / "b" / "work" / "frame.fits").is_file()  # what was made is kept
    log = (out / "b" / "ccdphot.log").read_text()
    assert "Traceback" in log and "new_unified_failing_once" in log
    for ok in ("a", "c"):
        assert _record(out / ok)["status"] == "ok"
        assert (out / ok / "photometry.ecsv").is_file()


@pytest.mark.requires_sextractor
def test_missing_filter_file_is_a_failed_frame_not_a_traceback(ngc6871_fits, tmp_path,
                                                                 ccdphot_cli):
    done = ccdphot_cli("run", ngc6871_fits, "--steps", "header,detect", "--out", tmp_path,
                       "-o", "detect.filter_name=typo.conv")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    status = _record(tmp_path / "NGC6871")["status"]
    assert status.startswith("failed at detect:") and "typo.conv" in status
    assert done.stdout.startswith(f"NGC6871: {status}")


@pytest.mark.requires_sextractor
def test_api_raises_with_the_result_of_the_failed_frame(ngc6871_fits, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("bad\nthing")

    monkeypatch.setattr(detect_step, "new_unified", broken)
    with pytest.raises(StepFailedError) as caught:
        pipeline.run(ngc6871_fits, steps=["detect"], out=tmp_path)
    assert caught.value.step == "detect"
    result = caught.value.result
    assert result.record["status"] == "failed at detect: ValueError: bad thing"
    assert not result.ok


@pytest.mark.requires_sextractor
def test_interrupt_is_recorded_and_goes_on_up(ngc6871_fits, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(detect_step, "new_unified", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(ngc6871_fits, steps=["detect"], out=tmp_path)
    record = _record(tmp_path / "NGC6871")
    assert record["status"] == "interrupted at detect: KeyboardInterrupt"
    assert record["status"] != "ok"


def _products(result_dir):
    """What must not depend on other frames: the table (values and frame meta) and tools."""
    table = Table.read(result_dir / "photometry.ecsv")
    record = _record(result_dir)
    meta = {k: v for k, v in table.meta.items() if k != "qc"}
    return table, meta, sorted(record["tools"]), record["status"]


@pytest.mark.requires_sextractor
@pytest.mark.requires_iraf
def test_frames_processed_alternately_equal_each_alone(ngc6871_fits, shared_data, tmp_path):
    """NGC 6871 (detect + DAOPHOT PHOT) and a SkyCamZ frame (detect only), one after the
    other three times in one process with one tool registry, give the products of each
    processed alone in a fresh registry; each run.json lists only the tools it ran."""
    skycamz = sorted((shared_data / "skycamz").glob("*.fits"))[0]
    config = load_config()
    jobs = [(ngc6871_fits, ["header", "detect", "aperture"]), (skycamz, ["header", "detect"])]
    alone = []
    for frame, steps in jobs:
        out = tmp_path / f"alone_{frame.stem}"
        pipeline.run_frame(frame, config, steps=steps, out=out, tools=ToolRegistry(config))
        alone.append(_products(out / frame.stem))
    shared = ToolRegistry(config)
    for turn in range(3):
        for (frame, steps), expected in zip(jobs, alone):
            out = tmp_path / f"mixed{turn}"
            pipeline.run_frame(frame, config, steps=steps, out=out, tools=shared)
            table, meta, tools, status = _products(out / frame.stem)
            assert status == expected[3] == "ok"
            assert tools == expected[2]
            assert meta == expected[1]
            assert table.colnames == expected[0].colnames
            for name in table.colnames:
                np.testing.assert_array_equal(np.ma.getmaskarray(table[name]),
                                              np.ma.getmaskarray(expected[0][name]))
                np.testing.assert_array_equal(np.ma.filled(table[name], 0),
                                              np.ma.filled(expected[0][name], 0))
    assert alone[0][2] == ["iraf", "sextractor"] and alone[1][2] == ["sextractor"]
    # each frame's log holds only its own lines
    assert "z_e_" not in (tmp_path / "mixed2" / "NGC6871" / "ccdphot.log").read_text()


@pytest.mark.requires_sextractor
def test_products_carry_the_versioned_contract(ngc6871_fits, tmp_path):
    pipeline.run(ngc6871_fits, steps=["header", "detect"], out=tmp_path)
    table, record = read_frame_products(tmp_path / "NGC6871")
    assert record["schema"] == RUN_SCHEMA and list(record)[0] == "schema"
    meta = table.meta
    assert meta["CCDPHOT_SCHEMA"] == PHOTOMETRY_SCHEMA
    # The frame's own header: DATE-OBS 2014-07-25T21:21:41 start, 20 s, JD (mid) 2456864.390174.
    assert meta["DATE_OBS_UTC"].startswith("2014-07-25T21:21:41")
    assert meta["EXPTIME_S"] == 20.0 and meta["FILTER"] == "I"
    assert meta["JD_UTC_MID"] == pytest.approx(2456864.390174, abs=2e-6)
    # BJD_TDB - JD_UTC: light time (~ +6 min in late July for RA 20h) plus TT-UTC 67.184 s.
    assert 0.002 < meta["BJD_TDB_MID"] - meta["JD_UTC_MID"] < 0.006
    assert meta["TELESCOP"] == "Cassegrain_0.6" and meta["HAS_WCS"] is True
    assert meta["SEEING_FWHM_PIX"] > 0 and meta["NAXIS1"] == 1250 and meta["NAXIS2"] == 1150


def test_reader_refuses_an_unknown_schema(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"status": "ok"}))
    Table({"NUMBER": [1]}, meta={"CCDPHOT_SCHEMA": 99}).write(folder / "photometry.ecsv")
    with pytest.raises(InputError, match="schema 99.*reads schema 1"):
        read_frame_products(folder)
    (folder / "photometry.ecsv").unlink()
    with pytest.raises(InputError, match="no photometry.ecsv"):
        read_frame_products(folder)
