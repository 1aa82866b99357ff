"""`ccdphot tools`, `ccdphot config`, `--version`; `ccdphot run` as the quick start calls it."""

import json

import pytest

from ccdphot import __version__
from ccdphot.config import load_config


def test_version(ccdphot_cli):
    done = ccdphot_cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"ccdphot {__version__}"


def test_tools_lists_every_configured_tool(ccdphot_cli):
    done = ccdphot_cli("tools")
    assert done.returncode == 0, done.stderr
    names = [line.split()[0] for line in done.stdout.splitlines()]
    assert names == list(load_config()["tools"])
    for line in done.stdout.splitlines():
        assert " OK " in line or (" MISSING " in line and "install:" in line)


@pytest.mark.requires_sextractor
def test_tools_shows_resolved_argv_and_version(ccdphot_cli):
    done = ccdphot_cli("tools")
    line = next(l for l in done.stdout.splitlines() if l.startswith("sextractor"))
    assert " OK " in line and "source-extractor" in line and " 2." in line


def test_tools_check_fails_when_a_required_tool_is_missing(tmp_path, ccdphot_cli):
    config = tmp_path / "c.toml"
    config.write_text('[tools.scamp]\ncommand = ["no-such-scamp"]\n')
    done = ccdphot_cli("tools", "--check", "--config", config)
    assert done.returncode == 1
    assert "scamp" in done.stderr and "required tool(s) missing" in done.stderr
    line = next(l for l in done.stdout.splitlines() if l.startswith("scamp"))
    assert "MISSING" in line and "apt-get install scamp" in line


@pytest.mark.requires_sextractor
@pytest.mark.requires_scamp
@pytest.mark.requires_iraf
def test_tools_check_ignores_missing_optional_tools(tmp_path, ccdphot_cli):
    config = tmp_path / "c.toml"
    config.write_text('[tools.vartools]\ncommand = ["no-such-vartools"]\n')
    done = ccdphot_cli("tools", "--check", "--config", config)
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(l for l in done.stdout.splitlines() if l.startswith("vartools"))
    assert "MISSING" in line and "optional" in line


def test_config_prints_the_effective_toml(tmp_path, ccdphot_cli):
    done = ccdphot_cli("config", "-o", "detect.detect_thresh_sigma=2.5")
    assert done.returncode == 0
    saved = tmp_path / "effective.toml"
    saved.write_text(done.stdout)
    assert load_config(path=saved)["detect"]["detect_thresh_sigma"] == 2.5
    assert "[tools.sextractor]" in done.stdout


@pytest.mark.requires_sextractor
@pytest.mark.requires_iraf
def test_run_with_a_relative_output_folder(tmp_path, ngc6871_fits, ccdphot_cli):
    """The quick start's `ccdphot run FRAME --out RESULTS`, from the folder it writes in: a
    relative work directory reaches SExtractor (the seeing-matched filter of the crowded
    detection) and the persistent PyRAF session (its own working directory) intact."""
    done = ccdphot_cli("run", ngc6871_fits, "--out", "RESULTS", "--steps",
                       "header,detect,aperture", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "RESULTS" / "NGC6871" / "run.json").read_text())
    assert record["status"].startswith("ok")
    assert record["qc"]["crowded_detection"] is True
    assert (tmp_path / "RESULTS" / "NGC6871" / "work" / "aperture.mag").is_file()
