"""Header standardisation on every real frame, times against astropy, the header step."""

import hashlib
import json
import shutil

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time

from ccdphot.cli.main import main
from ccdphot.config import load_config
from ccdphot.errors import InputError
from ccdphot.frame.pipeline import run_frame
from ccdphot.header.profiles import match_profile
from ccdphot.header.standard import apply_standard, standard_table, standardise
from ccdphot.header.values import parse_set_options

ALWAYS = ("DATE-OBS", "EXPTIME", "IMAGETYP", "JD", "MJD", "XBINNING", "YBINNING")


def _standard(path, overrides=None):
    header = fits.getheader(path)
    return standardise(header, match_profile(header), overrides, file_name=path.name)


def _real_frames(shared_data):
    """Every real frame in ../shared/data (the .fz copy duplicates solved.fits)."""
    frames = [shared_data / "ngc6871" / "NGC6871.fits"]
    frames += sorted((shared_data / "calib").glob("*.FIT"))
    frames += sorted((shared_data / "skycamz").glob("*.fits"))
    frames += sorted((shared_data / "astrometry").glob("*.fits"))
    frames += sorted((shared_data / "hatp32" / "frames").glob("*.FITS"))
    return frames


def test_every_real_frame_is_standardised(shared_data):
    frames = _real_frames(shared_data)
    assert len(frames) == 1 + 9 + 5 + 4 + 36
    rows = {path.name: _standard(path) for path in frames}
    for path in frames:
        std = rows[path.name]
        for key in ALWAYS:
            assert std.get(key) is not None, f"{path.name}: {key} unresolved"
        for key, source in std.sources.items():  # every value says where it came from
            assert source, f"{path.name}: {key} without a source"
        # sky frames have a target and so barycentric times, except rotation.fits, whose
        # header has neither pointing nor WCS (blank PANOPTES keywords)
        if std.get("IMAGETYP") == "object" and path.name != "rotation.fits":
            assert std.get("RA") is not None and std.get("BJD_TDB") is not None, path.name
    ngc = rows["NGC6871.fits"]
    assert (ngc.get("FILTER"), ngc.get("GAIN"), ngc.get("SATURATE")) == ("I", 9.0, 32000)
    assert ngc.get("RDNOISE") == pytest.approx(16.2)  # 1.8 ADU in the CCDPhot header
    assert ngc.sources["RDNOISE"] == "header RDNOISE (1.8 ADU x GAIN)"
    flat = rows["flat-expos23s-Neg5-Vis.00000000.FIT"]
    assert flat.get("IMAGETYP") == "flat"  # header says 'Light Frame'; only the name tells
    assert flat.sources["IMAGETYP"].startswith("file name")
    assert rows["darks-expos1-Neg5-Vis.00000000.DARK.FIT"].get("EXPTIME") == 60.0
    bias = rows["biases-Neg5-Vis.00000000.BIAS.FIT"]
    assert (bias.get("IMAGETYP"), bias.get("GAIN"), bias.sources["GAIN"]) == (
        "bias", 2.06, "header EGAIN")
    assert bias.sources["RDNOISE"] == "unknown"
    sky = rows["z_e_20130610_210_1_1_1.fits"]
    assert sky.get("FILTER") == "clear" and sky.sources["FILTER"] == "profile LT_SkyCamZ"
    assert sky.get("RA") == pytest.approx(256.16746, abs=1e-3)  # "17:04:40.191" hours
    assert sky.get("GAIN") is None and sky.sources["GAIN"] == "unknown"
    rotation = rows["rotation.fits"]
    assert rotation.sources["RA"] == rotation.sources["BJD_TDB"] == "unknown"
    pole = rows["pole.fits"]  # empty PANOPTES keywords: pointing from the WCS
    assert pole.sources["RA"] == "computed from the header WCS (image centre)"
    assert pole.get("FILTER") is None and pole.get("AIRMASS") is None


def test_bjd_tdb_matches_an_independent_astropy_computation(shared_data):
    """HAT-P-32: all 36 frames against frames.csv (astropy, EXOTIC-checked) to < 1 s."""
    reference = Table.read(shared_data / "hatp32" / "frames.csv")
    target = SkyCoord("02:04:10.278 +46:41:16.21", unit=(u.hourangle, u.deg))
    at_target = {"RA": "02:04:10.278", "DEC": "+46:41:16.21"}  # --set RA=... DEC=...
    site = EarthLocation.from_geodetic(-110.88 * u.deg, 31.68 * u.deg, 0 * u.m)
    errors_s = {"jd": [], "bjd": [], "bjd_own": [], "bjd_pointing": []}
    for row in reference:
        path = shared_data / "hatp32" / "frames" / row["file"]
        std = _standard(path, at_target)
        errors_s["jd"].append(std.get("JD") - row["jd_utc_mid"])
        errors_s["bjd"].append(std.get("BJD_TDB") - row["bjd_tdb_mid"])
        # our own independent computation from UT-OBS (not DATE-OBS, which is local)
        start = Time(row["ut_obs_start"][:-5], scale="utc", location=site)
        mid = start + row["exptime_s"] / 2 * u.s
        bjd = (mid.tdb + mid.light_travel_time(target, "barycentric")).jd
        errors_s["bjd_own"].append(std.get("BJD_TDB") - bjd)
        # without --set, the header pointing (12' off the star) stands in for the target
        errors_s["bjd_pointing"].append(_standard(path).get("BJD_TDB") - bjd)
    worst = {key: np.max(np.abs(values)) * 86400.0 for key, values in errors_s.items()}
    # frames.csv is rounded to 1e-6 d (+-0.043 s); our own computation agrees exactly
    assert worst["jd"] < 0.05 and worst["bjd"] < 0.05 and worst["bjd_own"] < 0.01
    assert 0.1 < worst["bjd_pointing"] < 2.0  # 12 arcmin ~ 1 s: why the target matters


def test_times_of_ngc6871_and_skycamz_agree_with_their_headers(ngc6871_fits, shared_data):
    ngc = _standard(ngc6871_fits)
    header = fits.getheader(ngc6871_fits)
    assert abs(ngc.get("JD") - header["JD"]) * 86400 < 0.1  # header JD is mid exposure
    site = EarthLocation.from_geodetic(16.658056 * u.deg, 51.474167 * u.deg, 150 * u.m)
    mid = Time("2014-07-25T21:21:51", scale="utc", location=site)
    target = SkyCoord(301.495833 * u.deg, 35.776667 * u.deg)
    bjd = (mid.tdb + mid.light_travel_time(target, "barycentric")).jd
    hjd = (mid.utc + mid.light_travel_time(target, "heliocentric")).jd
    assert abs(ngc.get("BJD_TDB") - bjd) * 86400 < 0.01
    assert abs(ngc.get("HJD") - hjd) * 86400 < 0.01
    for path in sorted((shared_data / "skycamz").glob("*.fits")):
        std = _standard(path)  # header MJD (a string) is the start of the exposure
        start_mjd = float(fits.getheader(path)["MJD"])
        assert abs(std.get("MJD") - 5.0 / 86400 - start_mjd) * 86400 < 0.1


def test_local_date_obs_is_converted_to_utc(shared_data):
    path = sorted((shared_data / "hatp32" / "frames").glob("*.FITS"))[0]
    std = _standard(path)
    assert std.get("DATE-OBS") == "2017-12-20T01:33:43.317"  # = header UT-OBS
    assert "converted to UTC" in std.sources["DATE-OBS"]
    assert std.get("SATURATE") == 4095 and std.get("FILTER") == "clear"


def test_airmass_is_computed_and_header_value_kept(shared_data):
    path = shared_data / "astrometry" / "unsolved.fits"
    header = fits.getheader(path)
    std = _standard(path)
    assert std.sources["AIRMASS"].startswith("computed")
    assert std.get("AIRMASS") == pytest.approx(header["AIRMASS"], abs=0.002)
    written = apply_standard(header, std)
    assert written["AIRM_HDR"] == header["AIRMASS"]
    assert written["AIRMASS"] == std.get("AIRMASS")


def test_set_values_win_and_are_recorded(ngc6871_fits):
    std = _standard(ngc6871_fits, parse_set_options(["FILTER=V", "gain=2.5",
                                                      "RA=20:06:00", "DEC=+35:46:36"]))
    assert (std.get("FILTER"), std.sources["FILTER"]) == ("V", "--set")
    assert std.get("GAIN") == 2.5 and std.get("RDNOISE") == pytest.approx(1.8 * 2.5)
    assert std.get("RA") == pytest.approx(301.5) and std.get("DEC") == pytest.approx(35.77667)


@pytest.mark.parametrize("cards, message", [
    ({"DATE-OBS": "25/07/2014 21:21"}, "DATE-OBS='25/07/2014 21:21' is not an ISO date"),
    ({"DATE-OBS": "2014-13-45T99:00:00"}, "is not an ISO date"),
    ({"OBSTYPE": "FOCUS"}, "IMAGETYP='FOCUS' is not a known image type"),
    ({"EXPTIME": "twenty"}, "EXPTIME='twenty' is not a number"),
    ({"EXPTIME": -5.0}, "must be positive"),
])
def test_unusable_values_are_one_line_errors(ngc6871_fits, cards, message):
    header = fits.getheader(ngc6871_fits)
    header.update(cards)
    with pytest.raises(InputError) as err:
        standardise(header, match_profile(header), file_name="NGC6871.fits")
    assert message in str(err.value) and "--set" in str(err.value)
    assert "\n" not in str(err.value)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_header_step_writes_the_working_copy(frame_copy, tmp_path):
    before = _sha(frame_copy)
    result = run_frame(frame_copy, load_config(), steps=["header"], out=tmp_path / "R",
                       options={"header_values": {"OBJECT": "NGC 6871"}})
    assert _sha(frame_copy) == before
    work = fits.getheader(result.out_dir / "work" / "frame.fits")
    assert work["OBJECT"] == "NGC 6871" and work["OBJE_HDR"] == "NGC6871"
    assert work["RDNOISE"] == pytest.approx(16.2) and work["RDNO_HDR"] == 1.8
    assert work["FILTER"] == "I" and work["FILT_HDR"] == " I"
    assert work["BJD_TDB"] > work["JD"] and work["CCDPSTD"] is True
    record = json.loads((result.out_dir / "run.json").read_text())
    values = record["details"]["header"]["values"]
    assert values["OBJECT"] == {"value": "NGC 6871", "source": "--set", "unit": None}
    assert values["GAIN"]["source"] == "header GAIN"
    assert record["qc"]["filter"] == "I" and record["qc"]["exptime_s"] == 20.0


def test_keyword_needed_by_a_later_step_fails_the_header_step(shared_data, tmp_path):
    frame = tmp_path / "pole.fits"  # PANOPTES (MIT): FILTER is blank
    shutil.copyfile(shared_data / "astrometry" / "pole.fits", frame)
    config = load_config(data={"calibrate": {"master_flat": str(tmp_path / "flat.fits")}})
    with pytest.raises(InputError) as err:
        run_frame(frame, config, steps=["header", "calibrate"], out=tmp_path / "R")
    assert str(err.value) == (
        "pole.fits: keyword FILTER is needed by the calibrate step but the header has none "
        "the profile understands; add it to the telescope profile ([values] FILTER = ...) or "
        "give --set FILTER=VALUE")
    record = json.loads((tmp_path / "R" / "pole" / "run.json").read_text())
    assert record["status"].startswith("failed at header: pole.fits: keyword FILTER")
    # not needed (no masters configured): recorded as unknown, the step succeeds
    result = run_frame(frame, load_config(), steps=["header", "calibrate"], out=tmp_path / "R2")
    assert result.record["details"]["header"]["values"]["FILTER"]["source"] == "unknown"


def test_header_command_prints_one_row_per_file(ngc6871_fits, shared_data, tmp_path, capsys):
    broken = tmp_path / "broken.fits"
    header = fits.getheader(ngc6871_fits)
    header["DATE-OBS"] = "yesterday"
    fits.PrimaryHDU(np.ones((8, 8), np.float32), header).writeto(broken)
    frames = [str(ngc6871_fits), str(shared_data / "calib" / "biases-Neg5-Vis.00000000.BIAS.FIT"),
              str(broken)]
    assert main(["header", *frames, "--sources", "--format", "ecsv"]) == 1
    captured = capsys.readouterr()
    table = Table.read(captured.out, format="ascii.ecsv")
    assert list(table["FILE"]) == ["NGC6871.fits", "biases-Neg5-Vis.00000000.BIAS.FIT"]
    assert list(table["IMAGETYP"]) == ["object", "bias"]
    assert table["GAIN_src"][1] == "header EGAIN"
    assert "broken.fits" in captured.err and "DATE-OBS='yesterday'" in captured.err
    assert main(["header", str(ngc6871_fits), "--set", "FILTER=R"]) == 0
    assert " R " in capsys.readouterr().out


def test_standard_table_has_units_in_meta(ngc6871_fits):
    table = standard_table([("NGC6871.fits", _standard(ngc6871_fits))])
    assert table.meta["units"]["BJD_TDB"] == "d (TDB)" and len(table) == 1


def test_run_command_passes_set_and_profile(frame_copy, tmp_path):
    out = tmp_path / "R"
    assert main(["run", str(frame_copy), "--steps", "header", "--out", str(out),
                 "--set", "FILTER=V", "--profile", "Bialkow_Andor"]) == 0
    record = json.loads((out / "NGC6871" / "run.json").read_text())
    assert record["options"]["header_values"] == {"FILTER": "V"}
    assert record["details"]["header"]["profile"] == "Bialkow_Andor"
    assert fits.getheader(out / "NGC6871" / "work" / "frame.fits")["FILTER"] == "V"


@pytest.mark.requires_sextractor
@pytest.mark.requires_iraf
def test_unknown_filter_skips_the_zero_point_of_the_configured_sequence(ngc6871_fits, tmp_path):
    """Without FILTER the default sequence still measures the frame: only the zero
    point is skipped, with the message saying how to supply FILTER."""
    frame = tmp_path / "nofilter.fits"
    with fits.open(ngc6871_fits) as hdul:
        del hdul[0].header["FILTER"]
        hdul.writeto(frame)
    config = load_config(data={"catalogs": {"offline": True}})
    result = run_frame(frame, config, out=tmp_path / "R")
    assert result.ok and len(result.table) > 2000
    steps = {s["name"]: s for s in result.record["steps"]}
    assert steps["header"]["status"] == "ok" and steps["psf"]["status"] == "ok"
    assert steps["zeropoint"]["status"] == "skipped"
    assert "FILTER is unknown" in steps["zeropoint"]["reason"]
    assert "--set FILTER=VALUE" in steps["zeropoint"]["reason"]
    assert result.record["details"]["header"]["values"]["FILTER"]["source"] == "unknown"
