"""The wrapper contract: argv only, stdin closed, timeout, errors, rendering, and
the job shape (build -> run -> parse -> check)."""

import sys
from dataclasses import dataclass

import pytest
from astropy.wcs import WCS
from ccdphot.wrappers.base import (
    Acceptance,
    SolutionJob,
    SolutionResult,
    clean_output,
    render_astromatic_config,
    run_tool,
    stderr_tail,
)

from ccdphot.config import load_config
from ccdphot.errors import SolutionRejected, ToolError, ToolNotFoundError, ToolTimeoutError
from ccdphot.tools import ToolRegistry


def _python_tool(tmp_path, name, body, timeout_s=30):
    script = tmp_path / f"{name}.py"
    script.write_text(body)
    config = load_config(data={"tools": {"sextractor": {
        "command": [sys.executable, str(script)], "version_args": [], "min_version": "",
        "timeout_s": timeout_s}}})
    return ToolRegistry(config).resolve("sextractor")


def test_arguments_reach_the_tool_verbatim_and_stdin_is_closed(tmp_path):
    tool = _python_tool(tmp_path, "echo", (
        "import json, sys\n"
        "data = sys.stdin.read()\n"
        "open('out.json', 'w').write(json.dumps({'argv': sys.argv[1:], 'stdin': data}))\n"))
    nasty = "a b;$(touch pwned)`id`.fits"
    run_tool(tool, [nasty, "-c", "x y"], cwd=tmp_path, expect=["out.json"])
    import json

    seen = json.loads((tmp_path / "out.json").read_text())
    assert seen == {"argv": [nasty, "-c", "x y"], "stdin": ""}
    assert not (tmp_path / "pwned").exists()


def test_failure_names_tool_command_exit_code_and_stderr_tail(tmp_path):
    tool = _python_tool(tmp_path, "crash", (
        "import sys\nprint('line one', file=sys.stderr)\n"
        "print('*Error*: cannot open frame.fits', file=sys.stderr)\nsys.exit(3)\n"))
    with pytest.raises(ToolError) as info:
        run_tool(tool, ["frame.fits"], cwd=tmp_path)
    message = str(info.value)
    assert message.startswith("SExtractor: failed")
    assert "exit code 3" in message and "cannot open frame.fits" in message
    assert "crash.py frame.fits" in message
    assert info.value.returncode == 3


def test_missing_expected_output_is_an_error(tmp_path):
    tool = _python_tool(tmp_path, "quiet", "pass\n")
    with pytest.raises(ToolError, match="did not write detections.ldac"):
        run_tool(tool, [], cwd=tmp_path, expect=["detections.ldac"])


def test_timeout_stops_the_tool(tmp_path):
    tool = _python_tool(tmp_path, "slow", "import time\ntime.sleep(60)\n", timeout_s=1)
    with pytest.raises(ToolTimeoutError, match="did not finish within 1 s"):
        run_tool(tool, [], cwd=tmp_path)


def test_missing_executable_says_how_to_install(tmp_path):
    config = load_config(data={"tools": {"sextractor": {"command": ["no-such-sextractor"]}}})
    with pytest.raises(ToolNotFoundError) as info:
        ToolRegistry(config).resolve("sextractor")
    message = str(info.value)
    assert "'no-such-sextractor' not found on PATH" in message
    assert "apt-get install source-extractor" in message
    assert "[tools.sextractor]" in message


def test_too_old_version_is_refused(tmp_path):
    tool_script = tmp_path / "old.py"
    tool_script.write_text("print('SExtractor version 2.5.0')\n")
    config = load_config(data={"tools": {"sextractor": {
        "command": [sys.executable, str(tool_script)], "version_args": []}}})
    with pytest.raises(ToolNotFoundError, match="older than the minimum 2.19"):
        ToolRegistry(config).resolve("sextractor")


def test_progress_output_is_collapsed_for_the_log():
    text = ("\x1b[1M> Line:   25  Objects:       53 detected\n"
            "\x1b[1A\x1b[1M> Line:  125  Objects:      278 detected\r"
            "> Line: 1150  Objects:     2543 detected\n"
            "> Closing files\n>\n")
    assert clean_output(text) == ["> Line: 1150  Objects:     2543 detected", "> Closing files"]
    assert stderr_tail("a\nb\nc\nd\ne\nf\ng\n", 2) == "f | g"


def test_astromatic_rendering_replaces_keeps_comments_and_appends(tmp_path):
    template = tmp_path / "t.sex"
    template.write_text("# header\nDETECT_THRESH 1.5  # sigma\nFILTER Y\n")
    out = render_astromatic_config(
        template, {"detect_thresh": 3.0, "FILTER": False, "PHOT_APERTURES": [4, 8.5]},
        tmp_path / "out.sex")
    lines = out.read_text().splitlines()
    assert lines[0] == "# header"
    assert lines[1].split() == ["DETECT_THRESH", "3.0", "#", "sigma"]
    assert lines[2].split() == ["FILTER", "N"]
    assert lines[3].split() == ["PHOT_APERTURES", "4,8.5"]


@dataclass(frozen=True, kw_only=True)
class _CountJob(SolutionJob):
    """A fake plate solver: the tool writes how many stars it was given."""

    n_stars: int
    outputs = ("count.txt",)
    optional_outputs = ("extra.txt",)

    def build(self):
        self.path("stars.txt").write_text(f"{self.n_stars}\n")
        return ["stars.txt"]

    def parse(self, run):
        n = int(self.path("count.txt").read_text())
        wcs = WCS(naxis=2)
        wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        wcs.wcs.cdelt = [-1 / 3600, 1 / 3600]
        return SolutionResult(figures={"n_given": n}, run=run, wcs=wcs, n_matched=n,
                              rms_arcsec=0.5)


def test_a_job_builds_runs_parses_and_checks(tmp_path):
    tool = _python_tool(tmp_path, "count", (
        "import sys\nn = open(sys.argv[1]).read().strip()\n"
        "if n != '0':\n    open('count.txt', 'w').write(n)\n"))
    (tmp_path / "extra.txt").write_text("stale")
    result = _CountJob(tool, tmp_path, acceptance=Acceptance(min_matches=3), n_stars=5).run()
    assert (result.n_matched, result.figures, result.run.argv[-1]) == (5, {"n_given": 5},
                                                                       "stars.txt")
    assert not (tmp_path / "extra.txt").exists()  # stale outputs never survive a run
    with pytest.raises(SolutionRejected, match="2 stars matched, fewer than") as info:
        _CountJob(tool, str(tmp_path), acceptance=Acceptance(min_matches=3), n_stars=2).run()
    assert info.value.figures == {"n_matched": 2, "rms_arcsec": 0.5, "n_given": 2}
    with pytest.raises(SolutionRejected, match=r"RMS 0\.500 arcsec over 5 stars exceeds"):
        _CountJob(tool, tmp_path, acceptance=Acceptance(3, 0.1), n_stars=5).run()
    with pytest.raises(ToolError, match="did not write count.txt"):
        _CountJob(tool, tmp_path, n_stars=0).run()  # the stale count.txt was removed first
