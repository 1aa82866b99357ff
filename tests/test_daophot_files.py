"""Readers of DAOPHOT II and IRAF DAOPHOT files, on real recorded files.

The DAOPHOT II files are the legacy reduction of NGC 6871 (tests/data/ngc6871);
the IRAF files were recorded by running IRAF DAOPHOT on a cut-out of the same
frame (tests/data/iraf_daophot, see tests/data/README.md).
"""

import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from ccdphot.wrappers.daophot import read_iraf_daophot

from ccdphot.daophot import daophot2_files as dao
from ccdphot.daophot import daophot2_options as opt_files
from ccdphot.errors import InputError, OutputParseError

IRAF = Path(__file__).parent / "data" / "iraf_daophot"


def _data_lines(path, start=3):
    return [line for line in path.read_text().splitlines()[start:] if line.strip()]


@pytest.mark.parametrize("name, reader, n_stars", [
    ("NGC6871.coo", dao.read_daophot_coo, 4166),
    ("NGC6871.ap", dao.read_daophot_ap, 4166),
    ("NGC6871.lst", dao.read_daophot_lst, 60),
    ("NGC6871.nei", dao.read_daophot_nei, 1895),
    ("NGC6871.als", dao.read_daophot_als, 4146),
])
def test_star_files_counts_header_and_units(ngc6871_dir, name, reader, n_stars):
    table = reader(ngc6871_dir / name)
    assert len(table) == n_stars
    assert len(set(table["ID"])) == n_stars
    assert table["X"].unit == u.pix and table["Y"].unit == u.pix
    assert table.meta["image_shape"] == (1150, 1250)
    assert table.meta["gain_e_per_adu"] == 9.0
    assert table.meta["read_noise_adu"] == 1.7
    assert table.meta["low_bad_adu"] == -3.9
    assert table.meta["high_bad_adu"] == 31000.0
    assert table.meta["source_file"] == name
    x, y = np.asarray(table["X"]), np.asarray(table["Y"])
    assert x.min() > -2 and x.max() < 1250.5 + 2 and y.min() > -2 and y.max() < 1150.5 + 2


def test_als_matches_an_independent_parse(ngc6871_dir):
    path = ngc6871_dir / "NGC6871.als"
    table = dao.read_daophot_als(path)
    raw = np.loadtxt(path, skiprows=3)
    assert table.colnames == ["ID", "X", "Y", "MAG", "MERR", "SKY", "NITER", "CHI", "SHARP"]
    for i, name in enumerate(table.colnames):
        np.testing.assert_allclose(np.asarray(table[name], float), raw[:, i])
    assert table["MAG"].unit == u.mag and table["SKY"].unit == u.adu
    # ALLSTAR writes the fitting radius it used into the header (FRAD)
    assert table.meta["fitting_radius_pix"] == 2.5


def test_ap_two_lines_per_star_and_undefined_values_masked(ngc6871_dir):
    path = ngc6871_dir / "NGC6871.ap"
    table = dao.read_daophot_ap(path)
    assert table.meta["apertures"] == 1 and table.meta["aperture1_pix"] == 8.0
    lines = _data_lines(path)
    first, second = lines[0::2], lines[1::2]
    undefined_mag = sum(1 for line in first if abs(float(line.split()[3])) >= 99.999)
    undefined_err = sum(1 for line in second if float(line.split()[3]) >= 9.9999)
    assert undefined_mag > 0 and undefined_err > 0
    assert table["MAG1"].mask.sum() == undefined_mag
    assert table["MERR1"].mask.sum() == undefined_err
    np.testing.assert_allclose(table["SKY"], [float(line.split()[0]) for line in second])
    assert (table["MAG"] == table["MAG1"]).all()


def test_ap_with_several_apertures(tmp_path, ngc6871_dir):
    """A PHOTOMETRY file with three apertures: extend the real one star by star."""
    lines = (ngc6871_dir / "NGC6871.ap").read_text().splitlines()
    out = lines[:3]
    for first, second in zip(lines[4::3], lines[5::3]):
        out += ["", first + "   12.000   11.500", second + "   0.0100   0.0200"]
    path = tmp_path / "three.ap"
    path.write_text("\n".join(out) + "\n")
    table = dao.read_daophot_ap(path)
    assert table.meta["apertures"] == 3
    assert len(table) == 4166
    assert (table["MAG3"] == 11.5).all() and np.allclose(table["MERR2"], 0.01)


def test_coo_lst_nei_err_columns(ngc6871_dir):
    coo = dao.read_daophot_coo(ngc6871_dir / "NGC6871.coo")
    assert coo.colnames == ["ID", "X", "Y", "MAG", "SHARP", "SROUND", "GROUND"]
    # FIND writes +-9.999 where an index is undefined (stars on the frame edge)
    undefined = sum(1 for line in _data_lines(ngc6871_dir / "NGC6871.coo")
                    if abs(float(line.split()[4])) == 9.999)
    assert undefined > 0 and coo["SHARP"].mask.sum() == undefined
    lst = dao.read_daophot_lst(ngc6871_dir / "NGC6871.lst")
    assert lst.colnames == ["ID", "X", "Y", "MAG", "MERR", "DMAG_AP12"]
    assert np.all(np.diff(lst["MAG"]) >= 0)  # PICK lists the brightest first
    assert set(lst["ID"]) <= set(coo["ID"])
    nei = dao.read_daophot_nei(ngc6871_dir / "NGC6871.nei")
    flagged = [line for line in _data_lines(ngc6871_dir / "NGC6871.nei")
               if line.rstrip()[-1] in "?*"]
    assert sorted(f for f in nei["FLAG"] if f) == sorted(line.split()[-1] for line in flagged)
    err = dao.read_daophot_err(ngc6871_dir / "i.err")
    assert len(err) == 100
    assert set(err["FLAG"]) <= {"", "?", "*"} and "*" in set(err["FLAG"])
    # the stars PSF rejected ('*' in i.err) are marked in the neighbour file too
    rejected_nei = set(nei["ID"][nei["FLAG"] == "*"])
    assert rejected_nei <= set(err["ID"][err["FLAG"] == "*"])


def test_psf_header_agrees_with_the_options(ngc6871_dir):
    psf = dao.read_daophot_psf(ngc6871_dir / "NGC6871.psf")
    opt = opt_files.read_daophot_options(ngc6871_dir / "daophot.opt")
    assert psf["function"] == "GAUSSIAN" and psf["iraf_function"] == "gauss"
    assert psf["psf_radius_pix"] == opt["psf_radius_pix"]
    assert psf["varorder"] == opt["variable_psf"]
    assert psf["n_parameters"] == len(psf["parameters"]) == 2
    assert 1.0 < psf["fwhm_x_pix"] < opt["fwhm_pix"]
    assert 1 <= psf["x_center_pix"] <= 1250 and 1 <= psf["y_center_pix"] <= 1150


def test_nst_reader_reads_the_allstar_format(tmp_path, ngc6871_dir):
    """NSTAR and ALLSTAR write the same format (NL=1, 9 columns); no standalone
    .nst was recorded, so the real .als is read under an .nst name."""
    path = tmp_path / "NGC6871.nst"
    shutil.copyfile(ngc6871_dir / "NGC6871.als", path)
    table = dao.read_daophot_nst(path)
    assert len(table) == 4146 and table.colnames[-3:] == ["NITER", "CHI", "SHARP"]


def test_option_files(ngc6871_dir):
    daophot = opt_files.read_daophot_options(ngc6871_dir / "daophot.opt")
    assert daophot == {"read_noise_adu": 1.7, "gain_e_per_adu": 9.0, "low_good_datum_sigma": 8.0,
                       "high_good_datum_adu": 31000.0, "fwhm_pix": 5.0, "threshold_sigma": 3.5,
                       "watch_progress": -2.0, "fitting_radius_pix": 6.0,
                       "psf_radius_pix": 24.0, "variable_psf": 2.0,
                       "extra_psf_cleaning_passes": 5.0}
    photo = opt_files.read_daophot_options(ngc6871_dir / "photo.opt")
    assert photo == {"aperture1_pix": 8.0, "inner_sky_radius_pix": 35.0,
                     "outer_sky_radius_pix": 50.0}
    allstar = opt_files.read_daophot_options(ngc6871_dir / "allstar.opt")  # lower-case keys
    assert allstar == {"fitting_radius_pix": 7.0, "clipping_exponent": 4.0,
                       "inner_sky_radius_pix": 30.0, "outer_sky_radius_pix": 50.0}


def test_option_keys_by_first_two_letters_and_kind(tmp_path):
    path = tmp_path / "frame.als.opt"
    path.write_text("fit=3.5\nredet=0\nisky=12\nosky=30\nMA = 40\n")
    assert opt_files.read_daophot_options(path) == {
        "fitting_radius_pix": 3.5, "redetermine_centroids": 0.0, "inner_sky_radius_pix": 12.0,
        "outer_sky_radius_pix": 30.0, "max_group_size": 40.0}
    # RE means read noise in a daophot.opt
    short = tmp_path / "short.opt"
    short.write_text("fit=3.5\nredet=0\n")
    assert opt_files.read_daophot_options(short, kind="daophot") == {"fitting_radius_pix": 3.5,
                                                               "read_noise_adu": 0.0}
    assert opt_files.read_daophot_options(short, kind="allstar") == {"fitting_radius_pix": 3.5,
                                                               "redetermine_centroids": 0.0}


def test_option_unknown_key_and_blank_line_warn(tmp_path):
    path = tmp_path / "daophot.opt"
    path.write_text("FW = 3.0\nZZ = 1.0\n\nTH = 9.0\n")
    with pytest.warns(dao.DaophotFileWarning) as record:
        options = opt_files.read_daophot_options(path)
    messages = " ".join(str(w.message) for w in record)
    assert "ZZ" in messages and "line 3" in messages
    assert options == {"fwhm_pix": 3.0, "ZZ": 1.0}  # DAOPHOT never read TH


@pytest.mark.parametrize("text, line, what", [
    ("FW = 3.0\nTH 4.0\n", 2, "no '='"),
    ("FW = 3.0\nGA = nine\n", 2, "not a number"),
])
def test_option_file_malformed(tmp_path, text, line, what):
    path = tmp_path / "daophot.opt"
    path.write_text(text)
    with pytest.raises(InputError, match=rf"daophot.opt line {line}: .*{what}"):
        opt_files.read_daophot_options(path)


def test_option_file_of_unknown_kind(tmp_path):
    path = tmp_path / "settings.txt"
    path.write_text("FW = 3.0\n")
    with pytest.raises(InputError, match="settings.txt"):
        opt_files.read_daophot_options(path)


def test_malformed_star_files(tmp_path, ngc6871_dir):
    lines = (ngc6871_dir / "NGC6871.als").read_text().splitlines()
    bad = tmp_path / "bad.als"
    bad.write_text("\n".join(lines[:10] + ["   4242  oops"] + lines[10:]) + "\n")
    with pytest.raises(OutputParseError, match=r"bad.als line 11"):
        dao.read_daophot_als(bad)
    truncated = tmp_path / "cut.ap"
    ap_lines = (ngc6871_dir / "NGC6871.ap").read_text().splitlines()
    truncated.write_text("\n".join(ap_lines[:-1]) + "\n")
    with pytest.raises(OutputParseError, match=r"cut.ap line \d+: the last star"):
        dao.read_daophot_ap(truncated)
    with pytest.warns(dao.DaophotFileWarning, match="NL=2"), \
            pytest.raises(OutputParseError, match=r"NGC6871.ap line 5: expected 9 numbers "
                                                  r"\(an ALLSTAR file .*the header says NL=2\)"):
        dao.read_daophot_als(ngc6871_dir / "NGC6871.ap")
    psf = tmp_path / "bad.psf"
    psf.write_text(" GAUSS   99    2    6\n")
    with pytest.raises(OutputParseError, match=r"bad.psf line 1"):
        dao.read_daophot_psf(psf)


# ------------------------------------------------ files as observers really have them

def _same_table(table, original):
    assert table.colnames == original.colnames
    for name in original.colnames:
        np.testing.assert_array_equal(np.ma.filled(table[name], -1),
                                      np.ma.filled(original[name], -1))
        assert table[name].unit == original[name].unit
    assert {k: v for k, v in table.meta.items() if k != "source_file"} == \
        {k: v for k, v in original.meta.items() if k != "source_file"}


def test_pick_list_whose_header_says_nl2_is_read_by_its_content(tmp_path, ngc6871_dir):
    """Tools that write PICK lists by copying the .ap header leave NL=2 in the .lst."""
    lines = (ngc6871_dir / "NGC6871.lst").read_text().splitlines()
    assert lines[1].startswith("  3 ")
    lines[1] = "  2" + lines[1][3:]
    path = tmp_path / "NGC6871.lst"
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(dao.DaophotFileWarning, match=r"NGC6871.lst: the header says NL=2 but the "
                                                    r"file is read by its content as a PICK list"):
        table = dao.read_daophot_lst(path)
    original = dao.read_daophot_lst(ngc6871_dir / "NGC6871.lst")
    assert len(table) == 60 and table.meta.pop("nl") == 2 and original.meta.pop("nl") == 3
    _same_table(table, original)


@pytest.mark.parametrize("name, reader", [
    ("NGC6871.coo", dao.read_daophot_coo), ("NGC6871.ap", dao.read_daophot_ap),
    ("NGC6871.lst", dao.read_daophot_lst), ("NGC6871.nei", dao.read_daophot_nei),
    ("NGC6871.als", dao.read_daophot_als), ("i.err", dao.read_daophot_err),
])
def test_crlf_trailing_blanks_and_tabs_read_the_same(tmp_path, ngc6871_dir, name, reader):
    """The real file with CRLF line ends, a tab between fields, blanks after every line,
    a byte-order mark and blank lines at the end: the same table, and no warning."""
    lines = (ngc6871_dir / name).read_text().splitlines()
    messy = "\ufeff" + "\r\n".join(line.replace("  ", " \t", 1) + "   " for line in lines)
    path = tmp_path / name
    path.write_bytes((messy + "\r\n\r\n   \r\n").encode())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = reader(path)
    _same_table(table, reader(ngc6871_dir / name))


def test_option_file_with_extra_keys_and_trailing_text(tmp_path, ngc6871_dir):
    """The real daophot.opt (CRLF) with lines observers' files carry: an unknown key, a
    photo.opt key, a unit after a value, a key given twice, trailing blanks."""
    lines = (ngc6871_dir / "daophot.opt").read_bytes().decode().split("\r\n")
    blank = lines.index("")
    extra = ["XY = 3.0   ", "A1 = 8.0", "PS = 24.0 pixels", "th=3.5  "]
    path = tmp_path / "daophot.opt"
    path.write_bytes("\r\n".join(lines[:blank] + extra + lines[blank:]).encode())
    with pytest.warns(dao.DaophotFileWarning) as record:
        options = opt_files.read_daophot_options(path)
    messages = [str(w.message) for w in record]
    line = blank + 1
    assert any(f"line {line}: XY is not a daophot.opt option" in m for m in messages)
    assert any(f"line {line + 1}: A1 is not a daophot.opt option" in m for m in messages)
    assert any(f"line {line + 2}: 'pixels' after the value of PS is ignored" in m
               for m in messages)
    assert any(f"line {line + 3}: TH was already given on line 6" in m for m in messages)
    assert options == {**opt_files.read_daophot_options(ngc6871_dir / "daophot.opt"),
                       "XY": 3.0, "A1": 8.0}


def test_unreadable_star_lines_are_refused_with_their_line_number(tmp_path, ngc6871_dir):
    """An .ap star's second line (sky, sigma, skew, error) inside a PICK list cannot be a
    PICK entry: its 'ID' is not a whole number."""
    lst = (ngc6871_dir / "NGC6871.lst").read_text().splitlines()
    ap = (ngc6871_dir / "NGC6871.ap").read_text().splitlines()
    path = tmp_path / "NGC6871.lst"
    path.write_text("\n".join(lst[:6] + [ap[5]] + lst[6:]) + "\n")
    with pytest.raises(OutputParseError, match=r"NGC6871.lst line 7: ID 12.526 is not a whole "
                                               r"number \(a PICK list"):
        dao.read_daophot_lst(path)


# ---------------------------------------------------------------- IRAF outputs

def _iraf_rows(path):
    """Number of records in an IRAF text file (lines ending in '\\' continue)."""
    records, continued = 0, False
    for line in path.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if not continued:
            records += 1
        continued = line.rstrip().endswith("\\")
    return records


@pytest.mark.parametrize("name, task", [
    ("n6871cut.coo.1", "daofind"), ("n6871cut.mag.1", "phot"), ("n6871cut.mag.2", "phot"),
    ("n6871cut.pst.1", "phot"),
    ("n6871cut.psg.1", "psf"), ("n6871cut.nst.1", "nstar"), ("n6871cut.als.1", "allstar"),
    ("n6871cut.arj.1", "allstar"),
])
def test_iraf_outputs(name, task):
    path = IRAF / name
    table = read_iraf_daophot(path)
    assert table.meta["iraf_task"] == task
    assert len(table) == _iraf_rows(path) > 0
    assert table["X"].unit == u.pix and table["Y"].unit == u.pix
    assert 0.5 <= np.min(table["X"]) and np.max(table["X"]) <= 200.5
    assert "MAG" in table.colnames and "ID" in table.colnames
    if "SKY" in table.colnames:
        assert table["SKY"].unit == u.adu
    assert all(table[c].unit is None or table[c].unit in (u.pix, u.mag, u.adu, u.pix ** 2)
               for c in table.colnames)
    if name.endswith(("als.1", "nst.1")):
        assert {"MERR", "NITER", "SHARP", "CHI", "PIER", "PERROR"} <= set(table.colnames)


def test_iraf_phot_apertures_and_indef():
    path = IRAF / "n6871cut.mag.1"
    table = read_iraf_daophot(path)
    magnitudes = [c for c in table.colnames if re.fullmatch(r"MAG\d", c)]
    assert magnitudes == ["MAG1", "MAG2", "MAG3"]
    assert list(table["RAPERT1"][:1]) == [3.0] and list(table["RAPERT3"][:1]) == [8.0]
    assert table["RAPERT1"].unit == u.pix and table["MAG2"].unit == u.mag
    assert table.meta["keywords"]["ZMAG"] == 25.0
    first_aperture = [line.split() for line in path.read_text().splitlines()
                      if line.split()[:1] == ["3.00"]]
    assert len(first_aperture) == len(table)
    indef = sum(tokens[4] == "INDEF" for tokens in first_aperture)
    assert table["MAG1"].mask.sum() == indef


def test_iraf_phot_with_one_aperture():
    """With a single aperture IRAF names the columns RAPERT, MAG, ... without a number."""
    table = read_iraf_daophot(IRAF / "n6871cut.mag.2")
    assert {"RAPERT", "SUM", "AREA", "FLUX", "MAG", "MERR", "PIER"} <= set(table.colnames)
    assert not [c for c in table.colnames if re.fullmatch(r"MAG\d", c)]
    assert table["RAPERT"].unit == u.pix and table["MAG"].unit == u.mag
    assert table["AREA"].unit == u.pix ** 2 and table["FLUX"].unit == u.adu
    three = read_iraf_daophot(IRAF / "n6871cut.mag.1")
    assert list(table["ID"]) == list(three["ID"])
    assert (table["RAPERT"] == 5.0).all()
    np.testing.assert_allclose(table["MAG"].filled(np.nan), three["MAG2"].filled(np.nan))


def test_iraf_files_are_consistent():
    coo = read_iraf_daophot(IRAF / "n6871cut.coo.1")
    mag = read_iraf_daophot(IRAF / "n6871cut.mag.1")
    pst = read_iraf_daophot(IRAF / "n6871cut.pst.1")
    als = read_iraf_daophot(IRAF / "n6871cut.als.1")
    arj = read_iraf_daophot(IRAF / "n6871cut.arj.1")
    assert list(mag["ID"]) == list(coo["ID"])
    assert set(pst["ID"]) <= set(mag["ID"])
    assert set(als["ID"]) | set(arj["ID"]) <= set(mag["ID"])
    assert not set(als["ID"]) & set(arj["ID"])
    assert als.meta["keywords"]["FITRAD"] == 4.0


def test_iraf_malformed_outputs(tmp_path):
    text = (IRAF / "n6871cut.mag.1").read_text()
    truncated = tmp_path / "cut.mag.1"
    truncated.write_text(text[:20000].rsplit("\n", 1)[0] + "\n")
    with pytest.raises(OutputParseError, match=r"cut.mag.1 line \d+: the last record continues"):
        read_iraf_daophot(truncated)
    lines = (IRAF / "n6871cut.als.1").read_text().splitlines()
    row = next(i for i, line in enumerate(lines) if line[:1].isdigit())
    x = lines[row].split()[1]
    lines[row] = lines[row].replace(x, x.replace(".", "x"), 1)
    bad = tmp_path / "bad.als.1"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(OutputParseError, match=rf"bad.als.1 line {row + 1}: .*XCENTER"):
        read_iraf_daophot(bad)


def test_iraf_reader_rejects_other_files(tmp_path, ngc6871_dir):
    with pytest.raises(OutputParseError, match="NGC6871.als"):
        read_iraf_daophot(ngc6871_dir / "NGC6871.als")
    empty = tmp_path / "empty.mag.1"
    empty.write_text("")
    with pytest.raises(OutputParseError, match="empty.mag.1"):
        read_iraf_daophot(empty)


def test_read_daophot_file_dispatch(ngc6871_dir):
    assert len(dao.read_daophot_file(ngc6871_dir / "NGC6871.als")) == 4146
    assert dao.read_daophot_file(ngc6871_dir / "i.err").colnames == ["ID", "RESIDUAL", "FLAG"]
    assert dao.read_daophot_file(IRAF / "n6871cut.nst.1").meta["iraf_task"] == "nstar"
    with pytest.raises(OutputParseError, match="daophot.opt: not a DAOPHOT star file"):
        dao.read_daophot_file(ngc6871_dir / "daophot.opt")
