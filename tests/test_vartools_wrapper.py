"""VARTOOLS wrapper: the builder reproduces every reference command line, the parser
reads every reference output (pure, recorded outputs of VARTOOLS 1.51), and a real
run gives the recorded figures.

The reference set is GPL-3.0 (VARTOOLS's examples): read from ../shared/data, not
copied into this MIT repository.
"""

import shlex

import numpy as np
import pytest

from ccdphot.config import load_config
from ccdphot.errors import OutputParseError
from ccdphot.periods.lightcurve import read_lightcurve
from ccdphot.tools import ToolRegistry
from ccdphot.wrappers import vartools as vt


def _out(case):
    return f"reference/{case}"


# case -> (input kind, input path, layout, ascii, commands), as the Python calls a user makes
BUILDS = {
    "aov_2": ("i", "lc/2", "oneline", True, [
        vt.aov(0.1, 10., 0.1, 0.01, 5, _out("aov_2"), nbin=20, whiten=True, clip=(5., 1))]),
    "aov_harm_2": ("i", "lc/2", "oneline", True, [
        vt.aov_harm(1, 0.1, 10., 0.1, 0.01, 2, _out("aov_harm_2"), whiten=True, clip=(5., 1))]),
    "binlc_2": ("i", "lc/2", "header", False, [
        vt.binlc("median", binsize=0.01), vt.output_lc("reference/binlc_2/2.bin.txt")]),
    "binlc_phase_2": ("i", "lc/2", "header", False, [
        vt.ls(0.1, 10., 0.1, 1), vt.phase("ls"), vt.binlc("median", nbins=100),
        vt.output_lc("reference/binlc_phase_2/2.phasebin.txt")]),
    "bls_3transit": ("i", "lc/3.transit", "oneline", True, [
        vt.bls(0.01, 0.1, 0.1, 20.0, 100000, 200, 0, 1, None, "reference/bls_3transit/",
               fittrap=True, nobinnedrms=True,
               phase_curve=("reference/bls_3transit/", -0.1, 1.1, 0.001))]),
    "bls_3transit_header": ("i", "lc/3.transit", "header", False, [
        vt.bls(0.01, 0.1, 0.5, 5.0, 20000, 200, 7, 1, "reference/bls_3transit_header/")]),
    "blsfixper_3transit": ("i", "lc/3.transit", "oneline", True, [
        vt.rms(), vt.bls_fixed_period(2.12345, 0.01, 0.1, 200, 0, correct_lc=True,
                                      fittrap=True), vt.rms()]),
    "chi2_list": ("l", "lc/lc_list_local", "header", False, [vt.chi2()]),
    "clip_5": ("i", "lc/5", "oneline", False, [
        vt.rms(), vt.sigma_clip(3., True), vt.rms(), vt.output_lc("reference/clip_5/5.clip.txt")]),
    "decorr_list": ("l", "lc/lc_list_local", "header", False, [
        vt.rms(), vt.decorr([(1, 2)]), vt.rms()]),
    "killharm_2": ("i", "lc/2", "oneline", False, [
        vt.ls(0.1, 10., 0.1, 1), vt.rms(), vt.chi2(), vt.killharm("ls", 0), vt.rms(),
        vt.chi2()]),
    "killharm_M3_aov": ("i", "lc/M3.V006.lc", "oneline", False, [
        vt.aov_harm(4, 0.2, 2.0, 0.1, 0.01, 1),
        vt.killharm("aov", 4, 0, "reference/killharm_M3_aov/", fitonly=True,
                    output="outampphase")]),
    "killharm_M3_fix": ("i", "lc/M3.V006.lc", "oneline", False, [
        vt.killharm(0.514333, 10, 0, "reference/killharm_M3_fix/", fitonly=True,
                    output="outRphi")]),
    "ls_2": ("i", "lc/2", "oneline", True, [
        vt.ls(0.1, 10., 0.1, 5, "reference/ls_2", whiten=True, clip=(5., 1))]),
    "ls_4": ("i", "lc/4", "header", False, [vt.ls(0.1, 30., 0.1, 3, "reference/ls_4")]),
    "ls_list": ("l", "lc/lc_list_ls", "header", False, [vt.ls(0.1, 100.0, 0.1, 1)]),
    "medianfilter_1": ("i", "lc/1", "oneline", False, [
        vt.chi2(), vt.save_lc(), vt.median_filter(0.05), vt.chi2(),
        vt.output_lc("reference/medianfilter_1/1.medianhighpass"), vt.restore_lc(1),
        vt.median_filter(0.05, replace=True), vt.chi2(),
        vt.output_lc("reference/medianfilter_1/1.medianlowpass")]),
    "rms_list": ("l", "lc/lc_list_local", "header", False, [vt.rms()]),
    "stats_3": ("i", "lc/3", "oneline", False, [
        vt.stats(["mag"], ("mean,weightedmean,median,stddev,meddev,medmeddev,MAD,kurtosis,"
                           "skewness,pct10,pct20,pct80,pct90,max,min,sum").split(","))]),
    "stats_list": ("l", "lc/lc_list_local", "header", False, [
        vt.stats(["t", "mag"], ["min", "max", "mean", "median", "stddev", "MAD"])]),
}


def _same_tokens(built, recorded):
    """Equal token by token; numbers equal by value (``10.`` is ``10.0``)."""
    if len(built) != len(recorded):
        return False
    for a, b in zip(built, recorded):
        try:
            if float(a) == float(b):
                continue
        except ValueError:
            pass
        if a.rstrip("/") != b.rstrip("/"):
            return False
    return True


@pytest.fixture(scope="module")
def vartools_data(shared_data):
    return shared_data / "vartools"


def test_every_reference_case_has_a_build(vartools_data):
    cases = sorted(p.name for p in (vartools_data / "reference").iterdir() if p.is_dir())
    assert cases == sorted(BUILDS)


@pytest.mark.parametrize("case", sorted(BUILDS))
def test_builder_reproduces_reference_command(vartools_data, case):
    kind, path, layout, ascii_, commands = BUILDS[case]
    argv = vt.build_argv(commands, lc=path if kind == "i" else None,
                         lc_list=path if kind == "l" else None, layout=layout,
                         ascii_periodograms=ascii_)
    recorded = shlex.split((vartools_data / "reference" / case / "cmd.txt").read_text())[1:]
    # VARTOOLS takes global options in any order: compare them as a set, commands in order
    first = next(i for i, token in enumerate(recorded) if token.startswith("-") and
                 token not in ("-i", "-l", "-oneline", "-header", "-ascii")
                 and recorded[i - 1] not in ("-i", "-l"))
    built_first = next(i for i, token in enumerate(argv) if token == commands[0].option)
    assert sorted(argv[:built_first]) == sorted(recorded[:first])
    assert _same_tokens(argv[built_first:], recorded[first:]), (argv, recorded)


@pytest.mark.parametrize("case", sorted(BUILDS))
def test_parser_reads_every_reference_stdout(vartools_data, case):
    text = (vartools_data / "reference" / case / "stdout.txt").read_text()
    table = vt.parse_stdout(text)
    lines = [line for line in text.splitlines() if line.strip()]
    if lines[0].startswith("#"):
        assert table.colnames == lines[0].lstrip("#").split()
        assert len(table) == len(lines) - 1
    else:
        keys = [line.split("=")[0].strip() for line in lines]
        assert table.colnames == keys and len(table) == 1
    assert table["Name"][0].startswith("lc/")


def test_parser_values_and_types(vartools_data):
    ls = vt.parse_stdout((vartools_data / "reference/ls_list/stdout.txt").read_text())
    assert len(ls) == 8 and ls["LS_Period_1_0"][0] == pytest.approx(77.7677525)
    stats = vt.parse_stdout((vartools_data / "reference/stats_3/stdout.txt").read_text())
    assert stats["STATS_mag_MEAN_0"][0] == 10.166743412350014
    assert stats["STATS_mag_PCT10.00_0"][0] == pytest.approx(10.160911997073457, rel=1e-15)
    rms = vt.parse_stdout((vartools_data / "reference/rms_list/stdout.txt").read_text())
    assert rms["Npoints_0"].dtype.kind == "i" and list(rms["Npoints_0"][:2]) == [3122, 3313]


OUTPUT_READERS = {
    ".ls": vt.read_ls_periodogram, ".aov": vt.read_aov_periodogram,
    ".aov_harm": vt.read_aov_periodogram, ".bls": vt.read_bls_periodogram,
    ".model": vt.read_model, ".phcurve": vt.read_phase_curve,
}


def test_parser_reads_every_reference_output_file(vartools_data):
    files = [p for p in (vartools_data / "reference").rglob("*")
             if p.is_file() and p.name not in ("cmd.txt", "stdout.txt")]
    assert len(files) == 14
    for path in files:
        reader = OUTPUT_READERS.get(path.suffix, vt.read_lightcurve)
        table = reader(path)
        rows = sum(1 for line in path.read_text().splitlines() if not line.startswith("#"))
        assert len(table) == rows > 0, path.name
    ls2 = vt.read_ls_periodogram(vartools_data / "reference/ls_2/2.ls")
    assert ls2.colnames[:3] == ["FREQUENCY", "POWER_0", "LOG10_FAP_0"] and len(ls2.colnames) == 11
    aov = vt.read_aov_periodogram(vartools_data / "reference/aov_harm_2/2.aov_harm")
    assert aov.colnames == ["PERIOD", "THETA_0", "THETA_1"]


def test_parser_errors_name_the_problem(tmp_path):
    with pytest.raises(OutputParseError, match="printed nothing"):
        vt.parse_stdout("\n")
    with pytest.raises(OutputParseError, match="non-number"):
        vt.parse_stdout("#Name LS_Period_1_0\nlc/2 abc\n")
    bad = tmp_path / "x.bls"
    bad.write_text("#Period S/N\n1 2\n")
    with pytest.raises(OutputParseError, match="x.bls: a BLS spectrum has 3 columns"):
        vt.read_bls_periodogram(bad)


@pytest.mark.requires_vartools
def test_run_reproduces_reference_figures(vartools_data, tmp_path):
    """The real binary through the runner, on light curves ccdphot wrote itself."""
    tool = ToolRegistry(load_config()).resolve("vartools")
    names = ["1", "2", "4", "9"]
    lcs = {f"my lc {n}": read_lightcurve(vartools_data / "lc" / n) for n in names}
    result = vt.Job(tool, tmp_path, lightcurves=lcs,
                    commands=(vt.ls(0.1, 100.0, 0.1, 1), vt.rms())).run()
    table = result.table
    assert result.figures == {"n_lightcurves": 4} and result.run.returncode == 0
    reference = vt.parse_stdout((vartools_data / "reference/ls_list/stdout.txt").read_text())
    rms = vt.parse_stdout((vartools_data / "reference/rms_list/stdout.txt").read_text())
    assert list(table["Name"]) == list(lcs)
    for row, name in zip(table, names):
        ref = reference[list(reference["Name"]).index(f"lc/{name}")]
        for column in ("LS_Period_1_0", "Log10_LS_Prob_1_0", "LS_SNR_1_0"):
            assert row[column] == ref[column]
        ref_rms = rms[list(rms["Name"]).index(f"lc/{name}")]
        assert row["RMS_1"] == ref_rms["RMS_0"]
    assert table.meta["version"] == "1.51"
    assert np.all(table["Npoints_1"] > 3000)
