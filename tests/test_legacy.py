"""Legacy DAOPHOT II reductions: option mapping and comparison, on the real
NGC 6871 reduction (tests/data/ngc6871). Pure: no tool is run here."""

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from ccdphot.daophot import daophot2_files as dao
from ccdphot.daophot.daophot2_options import read_daophot_options

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib
from ccdphot.daophot.legacy import LegacyReduction, load_legacy
from ccdphot.daophot.legacy_comparison import compare_to_legacy
from ccdphot.daophot.legacy_mapping import low_good_datum_adu
from ccdphot.errors import InputError, OutputParseError
from ccdphot.plots.legacy_comparison import plot_legacy_comparison

SHAPE = (1150, 1250)  # NGC6871.fits, numpy order (ny, nx)


@pytest.fixture(scope="module")
def reduction(ngc6871_dir):
    return load_legacy(ngc6871_dir, image_shape=SHAPE)


@pytest.fixture
def legacy_copy(tmp_path, ngc6871_dir):
    """A private copy of the legacy reduction (without the image), to alter."""
    dest = tmp_path / "legacy"
    dest.mkdir()
    for path in ngc6871_dir.iterdir():
        if path.suffix.lower() != ".fits":
            shutil.copyfile(path, dest / path.name)
    return dest


def test_load_legacy_reads_every_file(reduction, ngc6871_dir):
    assert isinstance(reduction, LegacyReduction)
    assert {"daophot.opt", "photo.opt", "allstar.opt", "coo", "ap", "lst", "nei", "als",
            "psf"} <= set(reduction.files)
    assert reduction.image_shape == SHAPE
    assert reduction.star_list_file.name == "NGC6871.coo" and len(reduction.star_list) == 4166
    assert len(reduction.psf_stars) == 60 and len(reduction.allstar) == 4146
    assert reduction.psf["function"] == "GAUSSIAN"
    assert reduction.options["daophot"] == read_daophot_options(ngc6871_dir / "daophot.opt")


# Expected IRAF values, worked by hand from the bundled files (tests/data/ngc6871) and the
# definitions of the DAOPHOT II user's manual (Stetson) and the IRAF help pages of
# datapars, findpars, fitskypars, photpars and daopars -- not from ccdphot's parser:
#   daophot.opt: RE=1.7 (read noise, ADU)  GA=9.0 (e-/ADU)  LO=8.0 (sigmas below the sky)
#                HI=31000 (ADU)  FW=5.0  TH=3.5 (sigma)  FI=6.0  PS=24.0  VA=2  EX=5
#   photo.opt:   A1=8 (aperture radius)  IS=35, OS=50 (sky annulus radii)
#   NGC6871.als header line: LOWBAD -3.9 (the low good datum DAOPHOT II computed from LO,
#                the sky and its sigma), FRAD 2.50 (ALLSTAR's fitting radius)
#   NGC6871.psf first word: GAUSSIAN


def test_daophot_options_become_iraf_parameters(reduction):
    data = reduction.iraf_params["datapars"]
    assert data["fwhmpsf"] == 5.0  # FW
    assert data["epadu"] == 9.0  # GA, e-/ADU in both
    # RE is in ADU in DAOPHOT II, datapars.readnoise in electrons: 1.7 ADU x 9.0 e-/ADU
    assert data["readnoise"] == pytest.approx(15.3)
    # LO is in sigmas below the sky, datapars.datamin in ADU: the LOWBAD DAOPHOT computed
    assert data["datamin"] == -3.9
    assert data["datamax"] == 31000.0  # HI, ADU in both
    assert data["exposure"] == "" and data["itime"] == 1.0
    assert reduction.iraf_params["findpars"]["threshold"] == 3.5  # TH, sigmas in both
    dao_pars = reduction.iraf_params["daopars"]
    assert dao_pars["function"] == "gauss"
    assert dao_pars["varorder"] == 2  # VA: 2 = quadratic in both
    assert dao_pars["psfrad"] == 24.0  # PS
    assert dao_pars["nclean"] == 5  # EX, extra PSF cleaning passes
    # PSF/NSTAR fit with daophot.opt FI, ALLSTAR with its own
    assert reduction.task_params["psf"]["daopars"]["fitrad"] == 6.0
    assert reduction.task_params["nstar"]["daopars"]["fitrad"] == 6.0


def test_photo_opt_becomes_phot_parameters(reduction):
    assert reduction.iraf_params["photpars"]["apertures"] == "8"  # A1
    # the zero point is [photometry] zero_point_mag, never the legacy 25
    assert "zmag" not in reduction.iraf_params["photpars"]
    sky = reduction.iraf_params["fitskypars"]
    # fitskypars: annulus = inner radius (IS), dannulus = width (OS - IS = 50 - 35)
    assert sky["annulus"] == 35.0 and sky["dannulus"] == 15.0
    assert reduction.iraf_params["centerpars"]["calgorithm"] == "none"


def test_allstar_opt_contradicted_by_the_als_header(reduction):
    """The bundled allstar.opt says FI=7 but NGC6871.als was fitted with FRAD=2.5:
    the header wins and ALLSTAR's defaults are mapped (no sky re-fit)."""
    daopars = reduction.iraf_params["daopars"]
    assert daopars["fitrad"] == 2.5  # FRAD of the .als header, not allstar.opt's FI = 7
    assert daopars["fitsky"] is False and daopars["recenter"] is True
    assert daopars["clipexp"] == 6 and daopars["maxgroup"] == 50
    assert any("allstar.opt FI=7" in w for w in reduction.warnings)
    unused = [r for r in reduction.mapping if r["note"].startswith("not used")]
    assert {r["legacy_option"] for r in unused} == {"allstar.opt FI", "allstar.opt CE",
                                                   "allstar.opt IS", "allstar.opt OS"}


def test_consistent_allstar_opt_is_mapped(legacy_copy):
    (legacy_copy / "allstar.opt").write_text("FI = 2.5\nRE = 0\nIS = 3\nOS = 25\nMA = 150\n")
    reduction = load_legacy(legacy_copy, image_shape=SHAPE)
    daopars = reduction.iraf_params["daopars"]
    assert daopars["fitrad"] == 2.5 and daopars["recenter"] is False
    assert daopars["fitsky"] is True
    assert daopars["sannulus"] == 3.0 and daopars["wsannulus"] == 22.0
    assert daopars["maxgroup"] == 100  # IRAF's ceiling
    assert not reduction.warnings


def test_reduction_as_observers_have_it_maps_like_the_textbook_one(legacy_copy, reduction):
    """The real reduction as other observers' files come: star files with CRLF line ends and
    trailing blanks, a PICK list whose header says NL=2 (copied from the .ap), an .ap with
    three apertures where photo.opt lists one, a daophot.opt with an unknown key and a key
    given again with a unit after its value. The same IRAF parameters; every departure is a
    warning of the reduction."""
    for name in ("NGC6871.coo", "NGC6871.als", "NGC6871.nei"):
        path = legacy_copy / name
        path.write_bytes("\r\n".join(line + "  " for line in
                                      path.read_text().splitlines()).encode() + b"\r\n")
    lst = (legacy_copy / "NGC6871.lst").read_text().splitlines()
    lst[1] = "  2" + lst[1][3:]
    (legacy_copy / "NGC6871.lst").write_text("\n".join(lst) + "\n")
    ap = (legacy_copy / "NGC6871.ap").read_text().splitlines()
    stars = [(a, b) for a, b in zip(ap[4::3], ap[5::3])]
    (legacy_copy / "NGC6871.ap").write_text("\n".join(
        ap[:3] + [line for a, b in stars for line in
                  ("", a + "   12.000   11.500", b + "   0.0100   0.0200")]) + "\n")
    opt = (legacy_copy / "daophot.opt").read_bytes().decode().split("\r\n")
    blank = opt.index("")
    (legacy_copy / "daophot.opt").write_bytes("\r\n".join(
        opt[:blank] + ["QQ = 1.0", "PS = 24.0 pix  "] + opt[blank:]).encode())

    messy = load_legacy(legacy_copy, image_shape=SHAPE)
    assert messy.iraf_params == reduction.iraf_params
    assert messy.task_params == reduction.task_params
    assert len(messy.star_list) == 4166 and len(messy.psf_stars) == 60
    new = [w for w in messy.warnings if w not in reduction.warnings]
    assert any("NGC6871.lst: the header says NL=2" in w for w in new)
    assert any("QQ is not a daophot.opt option" in w for w in new)
    assert any("'pix' after the value of PS is ignored" in w for w in new)
    assert any("PS was already given on line 9" in w for w in new)
    assert any("photo.opt lists 1 aperture(s) but NGC6871.ap holds 3" in w for w in new)
    assert len(new) == 5
    assert "daophot.opt QQ" in set(messy.mapping_table()["legacy_option"])


def test_mapping_lists_every_option_including_those_without_equivalent(reduction, ngc6871_dir):
    table = reduction.mapping_table()
    assert table.colnames == ["legacy_option", "legacy_value", "iraf_param", "iraf_value", "note"]
    keys = {line.split("=")[0].strip().upper()
            for line in (ngc6871_dir / "daophot.opt").read_text().splitlines() if "=" in line}
    mapped = {r.split()[1] for r in table["legacy_option"] if r.startswith("daophot.opt")}
    assert keys <= mapped
    no_equivalent = table[table["iraf_param"] == ""]
    assert "daophot.opt WA" in set(no_equivalent["legacy_option"])
    assert all(note for note in no_equivalent["note"])
    for pset, params in reduction.iraf_params.items():
        for name in params:
            assert f"{pset}.{name}" in set(table["iraf_param"])


def test_every_parameter_is_a_shipped_iraf_parameter(reduction):
    """The IRAF runner rejects unknown parameters: all mapped ones must exist
    in the shipped parameter sets (default_params/daophot/psets.toml)."""
    shipped = tomllib.loads((Path(__file__).parents[1] / "default_params" / "daophot"
                             / "psets.toml").read_text())
    layers = [reduction.iraf_params, *reduction.task_params.values()]
    for layer in layers:
        for pset, params in layer.items():
            assert set(params) <= set(shipped[pset]), pset


@pytest.mark.parametrize("an, function", [(3, "moffat25"), (-6, "auto"),
                                           (-3, "gauss,moffat15,moffat25")])
def test_analytic_model_choice_without_psf_file(tmp_path, an, function):
    (tmp_path / "daophot.opt").write_text(f"FW = 3.0\nAN = {an}\n")
    assert load_legacy(tmp_path).iraf_params["daopars"]["function"] == function


def test_bad_analytic_model(tmp_path):
    (tmp_path / "daophot.opt").write_text("AN = 9\n")
    with pytest.raises(InputError, match="daophot.opt: AN=9"):
        load_legacy(tmp_path)


def test_low_good_datum_from_the_sky_without_headers(tmp_path):
    (tmp_path / "daophot.opt").write_text("LO = 8\nGA = 2\nRE = 5\n")
    reduction = load_legacy(tmp_path, sky_adu=100.0, sky_sigma_adu=4.0)
    # by hand: sky 100 ADU - LO 8 x sigma 4 ADU = 68 ADU; RE 5 ADU x GA 2 e-/ADU = 10 e-
    assert reduction.iraf_params["datapars"]["datamin"] == low_good_datum_adu(8, 100.0, 4.0) == 68.0
    assert reduction.iraf_params["datapars"]["sigma"] == 4.0
    assert reduction.iraf_params["datapars"]["readnoise"] == 10.0
    unknown_sky = load_legacy(tmp_path)
    assert "datamin" not in unknown_sky.iraf_params["datapars"]
    row = [r for r in unknown_sky.mapping if r["iraf_param"] == "datapars.datamin"]
    assert row and "needs the frame sky" in row[0]["note"]


def test_legacy_files_of_another_image(ngc6871_dir, legacy_copy):
    with pytest.raises(InputError, match=r"NGC6871\.coo was made on a 1250x1150 pixel image but "
                                         r"the frame is 1000x1000"):
        load_legacy(ngc6871_dir, image_shape=(1000, 1000))
    # the PSF file alone also tells the frame size
    only_psf = legacy_copy.parent / "only_psf"
    only_psf.mkdir()
    shutil.copyfile(legacy_copy / "NGC6871.psf", only_psf / "NGC6871.psf")
    assert load_legacy(only_psf, image_shape=SHAPE).psf["function"] == "GAUSSIAN"
    with pytest.raises(InputError, match=r"NGC6871\.psf was made for a 1250x1150 pixel image"):
        load_legacy(only_psf, image_shape=(1150, 1000))
    # a header-less list: the star positions give it away
    for path in legacy_copy.iterdir():
        if path.suffix in (".coo", ".ap", ".lst", ".nei"):
            path.unlink()
    als = legacy_copy / "NGC6871.als"
    als.write_text("\n".join(als.read_text().splitlines()[3:]) + "\n")
    with pytest.raises(InputError, match=r"NGC6871\.als: \d+ stars lie outside the 1000x1150"):
        load_legacy(legacy_copy, image_shape=(1150, 1000))


def test_malformed_legacy_file(legacy_copy):
    ap = legacy_copy / "NGC6871.ap"
    lines = ap.read_text().splitlines()
    lines[5] = lines[5].replace(".", ",")
    ap.write_text("\n".join(lines) + "\n")
    with pytest.raises(OutputParseError, match=r"NGC6871\.ap line 6"):
        load_legacy(legacy_copy)


def test_missing_or_empty_directory(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_legacy(tmp_path / "nowhere")
    with pytest.raises(InputError, match="no DAOPHOT II files"):
        load_legacy(tmp_path)


def test_two_reductions_in_one_directory(legacy_copy):
    shutil.copyfile(legacy_copy / "NGC6871.als", legacy_copy / "other.als")
    with pytest.raises(InputError, match="several legacy .als files"):
        load_legacy(legacy_copy)
    assert load_legacy(legacy_copy, image_stem="NGC6871").files["als"].name == "NGC6871.als"


# ---------------------------------------------------------------- comparison

def test_compare_legacy_with_itself(reduction):
    table, summary = compare_to_legacy(reduction.allstar, reduction.allstar)
    assert summary["matched_fraction"] == 1.0 and summary["n_matched"] == 4146
    assert summary["median_dmag_mag"] == 0.0 and summary["robust_scatter_mag"] == 0.0
    assert summary["n_outliers"] == 0 and summary["meets_scatter_target"]
    assert (table["ID"] == table["LEGACY_ID"]).all()


def _perturbed(als, seed=6871):
    """The legacy list as a unified table, with known offset, noise and shifts."""
    rng = np.random.default_rng(seed)
    n = len(als)
    measured = Table()
    measured["NUMBER"] = np.arange(1, n + 1)
    measured["X_PSF"] = np.asarray(als["X"]) + rng.normal(0, 0.05, n)
    measured["Y_PSF"] = np.asarray(als["Y"]) + rng.normal(0, 0.05, n)
    measured["MAG_PSF"] = np.asarray(als["MAG"]) + 0.05 + rng.normal(0, 0.01, n)
    measured["MAGERR_PSF"] = np.asarray(als["MERR"])
    precise = np.flatnonzero(np.asarray(als["MERR"]) < 0.02)
    jumped = precise[::20]
    measured["MAG_PSF"][jumped] += 0.5
    moved = np.arange(0, n, 25)  # 4 % of the stars moved beyond the match radius
    measured["X_PSF"][moved] += 0.8
    return measured, jumped, moved


def test_compare_recovers_known_perturbations(reduction):
    als = reduction.allstar
    measured, jumped, moved = _perturbed(als)
    table, summary = compare_to_legacy(measured, als)
    expected_matched = 1 - len(moved) / len(als)
    assert summary["matched_fraction"] == pytest.approx(expected_matched, abs=0.003)
    assert summary["median_dmag_mag"] == pytest.approx(0.05, abs=0.003)
    assert summary["robust_scatter_mag"] == pytest.approx(0.01, abs=0.002)
    assert abs(summary["median_dx_pix"]) < 0.01 and abs(summary["median_dy_pix"]) < 0.01
    flagged = set(summary["outlier_ids"])
    detected = {int(als["ID"][i]) for i in jumped if i not in set(moved)}
    assert detected <= flagged
    assert len(flagged - detected) < 0.01 * len(als)
    rows = np.flatnonzero(table["MATCHED"])  # measured NUMBER i+1 is legacy row i
    assert (np.asarray(table["ID"])[rows] == rows + 1).all()
    bins = summary["bins"]
    assert bins["N"].sum() == summary["n_matched"]
    assert set(table.meta["legacy_comparison"]) >= {"matched_fraction", "robust_scatter_mag",
                                                    "bins", "outlier_ids"}


def test_compare_aperture_with_allstar(reduction, ngc6871_dir, tmp_path):
    """Real data: the legacy PHOT list against the legacy ALLSTAR list."""
    ap = dao.read_daophot_ap(ngc6871_dir / "NGC6871.ap")
    table, summary = compare_to_legacy(ap, reduction.allstar)
    # ALLSTAR recentres: most but not all stars stay within 0.5 pix of FIND's position
    assert 0.85 < summary["matched_fraction"] < 1.0
    assert abs(summary["median_dx_pix"]) < 0.05 and abs(summary["median_dy_pix"]) < 0.05
    # 8-pix aperture against PSF magnitudes: a small offset, scatter well above ALLSTAR's errors
    assert abs(summary["median_dmag_mag"]) < 0.05
    assert 0.005 < summary["robust_scatter_mag"] < 0.1
    path = tmp_path / "legacy_comparison.ecsv"
    table.write(path, format="ascii.ecsv")
    back = Table.read(path, format="ascii.ecsv")
    assert back.meta["legacy_comparison"]["n_matched"] == summary["n_matched"]
    assert len(back.meta["legacy_comparison"]["bins"]) == len(summary["bins"])
    png = plot_legacy_comparison(table, summary, tmp_path / "legacy_comparison.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert not list(tmp_path.glob(".tmp-*"))


def test_compare_needs_positions_and_magnitudes(reduction):
    with pytest.raises(InputError, match="measured table lacks"):
        compare_to_legacy(Table({"A": [1.0]}), reduction.allstar)
