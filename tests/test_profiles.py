"""Telescope profiles: the CCDPhot *_obs.info template, TOML profiles, matching."""

import hashlib
from pathlib import Path

import pytest
from astropy.io import fits

from ccdphot.cli.main import main
from ccdphot.errors import ConfigError, InputError
from ccdphot.header.profiles import (
    load_profile,
    match_profile,
    profile_from_dict,
    read_obsinfo,
    read_profile_toml,
    shipped_profiles,
)
from ccdphot.header.standard import standardise

TEMPLATE = Path(__file__).parent / "data" / "obsinfo" / "CCDPhot-TEMPLATE_obs.info"
GAIN_LINE = next(number for number, line in enumerate(TEMPLATE.read_text().splitlines(), 1)
                 if line.lstrip().startswith("Gain*"))


@pytest.fixture(scope="module")
def template():
    return read_obsinfo(TEMPLATE)


def test_template_is_read_into_profile_tables(template):
    assert template.name == "OAN-SPM_Marconi_3"  # OBSERVAT_INSTRUME, the template's own rule
    assert template.match == {"OBSERVAT": "OAN-SPM", "TELESCOP": "Richey_Chretien_1.5m",
                              "INSTRUME": "Marconi_3"}
    # positive West in the template -> East-positive longitude
    assert template.site == pytest.approx({"longitude_east_deg": -115.46666667,
                                           "latitude_deg": 31.04527778, "altitude_m": 2790.0})
    assert [m["when"] for m in template.modes] == [{"BIN": 1, "GAIN": 2000},
                                                   {"BIN": 1, "GAIN": 16000}]
    assert [(m["GAIN"], m["RDNOISE"], m["SATURATE"]) for m in template.modes] == [
        (9.0, 1.8, 32000), (6.7, 1.0, 45000)]
    assert template.units == {"RDNOISE": "adu"}  # COMMENT column of the read-noise line
    assert template.imagetyp == {"zero": "bias", "dark": "dark", "flat": "flat",
                                 "object": "object"}
    assert template.filters == {"B2": "B", "V2": "V"}
    assert template.keywords["FILTER"] == "FILTERS" and template.keywords["TIME-OBS"] == "UT"
    assert template.calibration == {"overscan": "", "trimsec": "[54:2101,1:2048]",
                                    "flat_low_adu": 15000.0, "flat_high_adu": 55000.0}


def test_profile_convert_writes_the_equivalent_toml(tmp_path, template, capsys):
    out = tmp_path / "oan.toml"
    before = hashlib.sha256(TEMPLATE.read_bytes()).hexdigest()
    assert main(["profile", "convert", str(TEMPLATE), "--out", str(out)]) == 0
    assert read_profile_toml(out).as_dict() == template.as_dict()
    assert main(["profile", "convert", str(TEMPLATE)]) == 0
    assert 'name = "OAN-SPM_Marconi_3"' in capsys.readouterr().out
    assert hashlib.sha256(TEMPLATE.read_bytes()).hexdigest() == before


def test_profile_list_names_the_shipped_profiles(capsys):
    assert main(["profile", "list"]) == 0
    out = capsys.readouterr().out
    assert "LT_SkyCamZ" in out and "INSTRUME='SkyCamZ'" in out


def test_shipped_oan_profile_is_the_converted_template(template):
    shipped = load_profile("OAN-SPM_Marconi_3")
    assert shipped.as_dict() == template.as_dict()
    assert {p.name for p in shipped_profiles()} >= {"OAN-SPM_Marconi_3", "Bialkow_Andor",
                                                    "LT_SkyCamZ", "MicroObservatory"}


def _broken_template(tmp_path, line_number, replacement):
    lines = TEMPLATE.read_text().splitlines()
    lines[line_number - 1] = replacement
    path = tmp_path / "BROKEN_obs.info"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("replacement, expected", [
    ("  Gain*                       : -        : GAIN", "found 3 field(s)"),
    ("  Gain* : - : GAIN : float : 9.00 | 6.70 | 5.0 : e/ADU : F", "camera mode value(s)"),
    ("  Exposition time : EXPTIME : EXPTIME : float : abc : seconds : F", "not of format float"),
    ("  Image type : IMAGETYP : OBSTYPE : str : zero, dark | BIAS : type : F", "pair up"),
    ("  Image type : IMAGETYP : OBSTYPE : str : zero | SKY : type : F", "not one of BIAS"),
    ("  Bad key : EXP TIME : EXPTIME : float : - : s : F", "not a FITS keyword"),
])
def test_malformed_obsinfo_line_is_reported_with_its_number(tmp_path, replacement, expected):
    path = _broken_template(tmp_path, GAIN_LINE, replacement)
    with pytest.raises(InputError) as err:
        read_obsinfo(path)
    message = str(err.value)
    assert f"BROKEN_obs.info line {GAIN_LINE}" in message and expected in message
    assert "\n" not in message


def test_bad_toml_profiles_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown profile table"):
        profile_from_dict({"name": "x", "sites": {}}, "x.toml")
    with pytest.raises(ConfigError, match=r"\[imagetyp\] SKY = 'sky'"):
        profile_from_dict({"imagetyp": {"SKY": "sky"}}, "x.toml")
    with pytest.raises(ConfigError, match=r"\[units\] RDNOISE"):
        profile_from_dict({"units": {"RDNOISE": "volts"}}, "x.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_profile_toml(bad)
    with pytest.raises(ConfigError, match="neither a file nor a shipped profile"):
        load_profile("no-such-telescope")


def test_frames_are_matched_by_telescop_instrume_observat(ngc6871_fits, shared_data):
    assert match_profile(fits.getheader(ngc6871_fits)).name == "Bialkow_Andor"
    skycamz = sorted((shared_data / "skycamz").glob("*.fits"))[0]
    assert match_profile(fits.getheader(skycamz)).name == "LT_SkyCamZ"
    hatp32 = sorted((shared_data / "hatp32" / "frames").glob("*.FITS"))[0]
    assert match_profile(fits.getheader(hatp32)).name == "MicroObservatory"
    bias = sorted((shared_data / "calib").glob("biases*"))[0]
    assert match_profile(fits.getheader(bias)) is None  # generic keyword names


def _oan_header(**cards):
    header = fits.Header({"OBSERVAT": "OAN-SPM", "TELESCOP": "Richey_Chretien_1.5m",
                          "INSTRUME": "Marconi_3", "DATE-OBS": "2020-01-02T03:04:05",
                          "EXPTIME": 30.0, "IMAGETYP": "object", "FILTERS": "V2"})
    header.update(cards)
    return header


def test_camera_mode_is_selected_by_the_header(template):
    # At OAN-SPM the header GAIN keyword holds the readout speed, never the gain.
    fast = standardise(_oan_header(GAIN=16000, BIN=1), template)
    assert fast.get("GAIN") == 6.7 and fast.sources["GAIN"] == "profile OAN-SPM_Marconi_3 (mode 2)"
    assert fast.get("RDNOISE") == pytest.approx(6.7)  # 1.0 ADU x 6.7 e-/ADU
    assert fast.get("SATURATE") == 45000
    slow = standardise(_oan_header(GAIN=2000), template)
    assert slow.get("GAIN") == 9.0 and slow.get("RDNOISE") == pytest.approx(16.2)
    assert slow.get("FILTER") == "V" and slow.get("IMAGETYP") == "object"
    unsure = standardise(_oan_header(), template)
    assert unsure.get("GAIN") == 9.0
    assert any("mode 1 of 2 assumed" in w for w in unsure.warnings)
    with pytest.raises(InputError, match="no camera mode matches"):
        standardise(_oan_header(GAIN=4000), template)
