"""CCD calibration on the real SBIG STL-1001E bias, dark and flat frames (../shared/data/calib).

The set has no sky frame, so the third flat plays the science frame: masters are
built from the first two flats only, and the left-out flat must come out flat.
Expected values come from the raw files as astropy reads them, combined here with
numpy, calibrated with ccdproc's own functions, and from the frames' headers
(EGAIN, EXPTIME) -- never from ccdphot's reader or formulas.
"""

import hashlib
import json
import logging
import shutil
from pathlib import Path

import ccdproc
import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData
from astropy.stats import sigma_clipped_stats
from ccdphot.wrappers import sextractor

from ccdphot.calib.apply import apply_masters, shift_wcs_for_trim
from ccdphot.calib.masters import (
    MASK_BAD,
    MASK_SATURATED,
    make_masters,
    read_noise_from_biases,
    read_raw,
)
from ccdphot.cli.main import main
from ccdphot.config import load_config
from ccdphot.errors import ConfigError, InputError
from ccdphot.frame.pipeline import run_frame

_CALIB = {}


@pytest.fixture(scope="module", autouse=True)
def calib_dir(shared_data):
    """The calibration set (no licence: read in place, never copied into the repo)."""
    _CALIB["dir"] = shared_data / "calib"
    return _CALIB["dir"]


def _calib_files(pattern):
    return sorted(_CALIB["dir"].glob(pattern))


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def large_scale_rms(data, box=64):
    """Relative RMS of the 64x64-pixel block medians: the large-scale unevenness."""
    ny, nx = (s // box * box for s in data.shape)
    blocks = data[:ny, :nx].reshape(ny // box, box, nx // box, box)
    medians = np.nanmedian(blocks, axis=(1, 3))
    return float(np.std(medians) / np.median(medians))


@pytest.fixture(scope="module")
def masters(calib_dir, tmp_path_factory):
    """Masters from 3 biases, 3 darks (60 s) and flats 0 and 1 (flat 2 is left out)."""
    inputs = _calib_files("*.FIT")
    before = {p: _sha(p) for p in inputs}
    out = tmp_path_factory.mktemp("masters")
    written, figures = make_masters(_calib_files("biases*"), _calib_files("darks*"),
                                    _calib_files("flat*")[:2], out,
                                    load_config()["calibrate"])
    assert {p: _sha(p) for p in inputs} == before  # raw frames are never modified
    return out, written, figures


def _raw_adu(path):
    """A raw frame as astropy reads it (BZERO applied), in ADU."""
    return fits.getdata(path).astype(float)


@pytest.fixture(scope="module")
def expected_masters(calib_dir):
    """The masters computed here with numpy, as docs/header_and_calibration.rst describes
    them: the median of the biases; the median of the bias-subtracted darks; the flats
    bias- and (exposure-scaled) dark-subtracted, each divided by its median, then their
    median, normalised to a median of 1. Exposure times from the headers (EXPTIME)."""
    bias = np.median([_raw_adu(p) for p in _calib_files("biases*")], axis=0)
    darks = _calib_files("darks*")
    dark = np.median([_raw_adu(p) - bias for p in darks], axis=0)
    dark_s = fits.getheader(darks[0])["EXPTIME"]
    flats = []
    for path in _calib_files("flat*")[:2]:
        flat = _raw_adu(path) - bias - dark * fits.getheader(path)["EXPTIME"] / dark_s
        flats.append(flat / np.median(flat))
    flat = np.median(flats, axis=0)
    return {"bias": bias, "dark": dark, "dark_s": dark_s, "flat": flat / np.median(flat)}


def test_masters_are_the_medians_of_their_inputs(masters, expected_masters):
    out = masters[0]
    for kind, name in (("bias", "master_bias_1x1.fits"), ("dark", "master_dark_1x1_60s.fits"),
                       ("flat", "master_flat_1x1_Visible.fits")):
        np.testing.assert_allclose(fits.getdata(out / name), expected_masters[kind],
                                   rtol=1e-6, atol=1e-3 if kind != "flat" else 1e-6,
                                   err_msg=kind)


def test_masters_carry_their_provenance(masters):
    out, written, figures = masters
    assert sorted(p.name for p in written) == [
        "master_bias_1x1.fits", "master_dark_1x1_60s.fits", "master_flat_1x1_Visible.fits"]
    bias = fits.getheader(out / "master_bias_1x1.fits")
    assert (bias["CCDPMAST"], bias["NCOMBINE"], bias["COMBMETH"]) == ("bias", 3, "median")
    assert [h for h in bias["HISTORY"]] == [f"input: {p.name}" for p in _calib_files("biases*")]
    dark = fits.getheader(out / "master_dark_1x1_60s.fits")
    assert dark["EXPTIME"] == 60.0 and dark["BIASSUB"] is True
    flat_header = fits.getheader(out / "master_flat_1x1_Visible.fits")
    assert flat_header["FILTER"] == "Visible" and flat_header["NCOMBINE"] == 2
    assert np.nanmedian(fits.getdata(out / "master_flat_1x1_Visible.fits")) == pytest.approx(1.0)
    assert figures["flat"] == [{"filter": "Visible", "n_frames": 2, "n_rejected": 0}]


def test_bias_level_and_read_noise_from_bias_differences(masters):
    out, _, figures = masters
    paths = _calib_files("biases*")
    raw = [_raw_adu(p) for p in paths]
    assert figures["bias"]["level_adu"] == pytest.approx(np.median(raw), abs=1.0)
    # read noise from consecutive pairs agrees with the independent pair (0, 2)
    noise_adu = figures["bias"]["read_noise_adu"]
    _, _, std_02 = sigma_clipped_stats(raw[0] - raw[2], sigma=5.0)
    assert noise_adu == pytest.approx(std_02 / np.sqrt(2), rel=0.05)
    assert read_noise_from_biases([read_raw(paths[0]).ccd]) is None  # one frame: no difference
    # in electrons with the gain of the header (EGAIN); the frames carry no RDNOISE keyword
    gain = fits.getheader(paths[0])["EGAIN"]
    assert figures["bias"]["gain_e_per_adu"] == gain == 2.06
    assert figures["bias"]["read_noise_e"] == pytest.approx(std_02 / np.sqrt(2) * gain,
                                                           rel=0.05)
    header = fits.getheader(out / "master_bias_1x1.fits")
    assert header["RDN_E"] == pytest.approx(figures["bias"]["read_noise_e"], abs=1e-3)


def _expected_calibration(frame, expected_masters, readnoise_e=None):
    """``frame`` calibrated with ccdproc's own functions, the masters computed in this test
    and the gain of the header (EGAIN): bias; then, with a read noise, the Poisson +
    read-noise deviation of the bias-subtracted signal (ccdproc.create_deviation; read
    noise alone where the signal is negative); the dark scaled by EXPTIME; the flat
    (median 1; values below [calibrate] bad_flat_low = 0.5 raised to it)."""
    header = fits.getheader(frame)
    ccd = ccdproc.subtract_bias(CCDData(_raw_adu(frame), unit="adu"),
                                CCDData(expected_masters["bias"], unit="adu"))
    if readnoise_e is not None:
        ccd = ccdproc.create_deviation(ccd, gain=header["EGAIN"] * u.electron / u.adu,
                                       readnoise=readnoise_e * u.electron, disregard_nan=True)
    ccd = ccdproc.subtract_dark(ccd, CCDData(expected_masters["dark"], unit="adu"),
                                dark_exposure=expected_masters["dark_s"] * u.s,
                                data_exposure=header["EXPTIME"] * u.s, scale=True)
    return ccdproc.flat_correct(ccd, CCDData(expected_masters["flat"], unit=""),
                                min_value=0.5, norm_value=1.0)


def test_flat_fielding_flattens_the_left_out_flat(masters, expected_masters, tmp_path):
    out, _, _ = masters
    frame = _calib_files("flat*")[2]
    before_sha = _sha(frame)
    written, record = apply_masters(frame, tmp_path, {**load_config()["calibrate"],
                                                      "masters_dir": str(out)},
                                    overrides={"RDNOISE": "13.8"})
    assert _sha(frame) == before_sha
    assert [p.name for p in written] == ["flat-expos23s-Neg5-Vis.00000002_cal.fits",
                                         "flat-expos23s-Neg5-Vis.00000002_mask.fits",
                                         "flat-expos23s-Neg5-Vis.00000002_sigma.fits"]
    assert record["masters"] == {"bias": "master_bias_1x1.fits",
                                 "dark": "master_dark_1x1_60s.fits",
                                 "flat": "master_flat_1x1_Visible.fits"}
    assert record["dark_scale"] == pytest.approx(23.0 / 60.0, abs=1e-5)
    calibrated = fits.getdata(written[0])
    mask = fits.getdata(written[1])
    before = large_scale_rms(_raw_adu(frame) - expected_masters["bias"])
    after = large_scale_rms(np.where(mask == 0, calibrated, np.nan))
    assert after < before / 2, (before, after)
    # hot pixels of the dark are flagged as bad
    assert record["n_hot_pixels"] > 0 and np.count_nonzero(mask & MASK_BAD) >= record[
        "n_hot_pixels"]
    expected = _expected_calibration(frame, expected_masters, readnoise_e=13.8)
    np.testing.assert_allclose(calibrated, expected.data, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(fits.getdata(written[2]), expected.uncertainty.array,
                               rtol=1e-5)


def test_calibrate_step_uses_a_masters_directory(masters, expected_masters, tmp_path):
    out, _, _ = masters
    frame = _calib_files("flat*")[2]
    config = load_config(data={"calibrate": {"masters_dir": str(out)}})
    result = run_frame(frame, config, steps=["header", "calibrate"], out=tmp_path / "R")
    record = json.loads((result.out_dir / "run.json").read_text())
    figures = next(s for s in record["steps"] if s["name"] == "calibrate")["figures"]
    assert figures["applied"] is True and figures["n_masked_pix"] > 0
    work = result.out_dir / "work"
    # the working copy every later step measures is the calibrated frame
    np.testing.assert_allclose(fits.getdata(work / "frame.fits"),
                               _expected_calibration(frame, expected_masters).data,
                               rtol=1e-5, atol=1e-3)
    assert (work / "mask.fits").is_file() and (work / "weight.fits").is_file()
    weight = fits.getdata(work / "weight.fits")
    mask = fits.getdata(work / "mask.fits")
    assert np.array_equal(weight == 0, (mask & MASK_BAD) != 0)
    header = fits.getheader(work / "frame.fits")
    assert header["FLATCORR"] == "master_flat_1x1_Visible.fits"
    assert header["SATURATE"] < 65535 and header["SATU_RAW"] == 65535
    assert record["details"]["calibrate"]["uncertainty"] == "none (GAIN or RDNOISE unknown)"


def test_without_masters_nothing_is_faked(frame_copy, tmp_path):
    result = run_frame(frame_copy, load_config(), steps=["header", "calibrate"],
                       out=tmp_path / "R")
    entry = next(s for s in result.record["steps"] if s["name"] == "calibrate")
    assert entry["status"] == "skipped" and entry["figures"]["applied"] is False
    assert result.record["status"].startswith("incomplete: calibrate skipped (no masters")
    assert "frame already calibrated (FF-FLAG, DK-FLAG)" in entry["figures"]["reason"]
    work = result.out_dir / "work"
    assert np.array_equal(fits.getdata(work / "frame.fits"), fits.getdata(frame_copy))
    mask = fits.getdata(work / "mask.fits")  # saturation (>= 32000 ADU) still flagged
    assert np.count_nonzero(mask & MASK_SATURATED) == np.count_nonzero(
        fits.getdata(frame_copy) >= 32000)
    assert not (work / "weight.fits").exists()
    strict = load_config(data={"calibrate": {"require_masters": True}})
    with pytest.raises(InputError, match="require_masters is true"):
        run_frame(frame_copy, strict, steps=["header", "calibrate"], out=tmp_path / "S")


def test_sextractor_gets_the_weight_map(tmp_path):
    settings = sextractor.ccdphot_settings(load_config()["detect"], 25.0,
                                           weight_image="weight.fits")
    sextractor.Job(None, tmp_path, image_name="frame.fits", settings=settings).build()
    text = (tmp_path / sextractor.CONFIG_NAME).read_text()
    assert any(line.split()[:2] == ["WEIGHT_IMAGE", "weight.fits"] for line in text.splitlines())
    assert any(line.split()[:2] == ["WEIGHT_TYPE", "MAP_WEIGHT"] for line in text.splitlines())


def test_calib_commands(masters, tmp_path, capsys):
    out_dir = tmp_path / "m"
    assert main(["calib", "masters", "--bias", *map(str, _calib_files("biases*")),
                 "--method", "average", "--out", str(out_dir)]) == 0
    printed = capsys.readouterr().out
    assert "master bias: level" in printed and "e- (gain 2.06 e-/ADU)" in printed
    assert fits.getheader(out_dir / "master_bias_1x1.fits")["COMBMETH"] == "average"
    masters_dir = masters[0]
    assert main(["calib", "apply", str(_calib_files("flat*")[2]), "--masters", str(masters_dir),
                 "--out", str(tmp_path / "cal")]) == 0
    assert (tmp_path / "cal" / "flat-expos23s-Neg5-Vis.00000002_cal.fits").is_file()


# --- bad input -------------------------------------------------------------------

def _modified_copy(source, dest, data=None, **cards):
    """A private copy of a raw frame with changed cards/pixels (the original is untouched)."""
    shutil.copyfile(source, dest)
    with fits.open(dest, mode="update") as hdul:
        for key, value in cards.items():
            if value is None:
                del hdul[0].header[key]
            else:
                hdul[0].header[key] = value
        if data is not None:
            hdul[0].data = data
    return dest


def _config():
    return load_config()["calibrate"]


def test_mismatched_shapes_and_binning(ngc6871_fits, tmp_path):
    biases = _calib_files("biases*")
    with pytest.raises(InputError, match=r"NGC6871.fits: shape \(1250, 1150\) differs"):
        make_masters([*biases, ngc6871_fits], out_dir=tmp_path, config=_config())
    binned = _modified_copy(biases[0], tmp_path / "binned.BIAS.FIT", XBINNING=2, YBINNING=2,
                            CCDXBIN=2, CCDYBIN=2)
    with pytest.raises(InputError, match=r"binned.BIAS.FIT: binning \(2, 2\) differs"):
        make_masters([biases[1], binned], out_dir=tmp_path, config=_config())


def test_dark_without_exptime(tmp_path):
    dark = _modified_copy(_calib_files("darks*")[0], tmp_path / "nodark.DARK.FIT",
                          EXPTIME=None, EXPOSURE=None)
    with pytest.raises(InputError, match="nodark.DARK.FIT: a dark without EXPTIME"):
        make_masters(_calib_files("biases*"), [dark], out_dir=tmp_path, config=_config())


def test_flat_of_another_filter(masters, tmp_path):
    frame = _calib_files("flat*")[2]
    config = {**_config(), "master_flat": str(masters[0] / "master_flat_1x1_Visible.fits")}
    with pytest.raises(InputError, match="is for filter 'Visible' but the frame is 'V'"):
        apply_masters(frame, tmp_path, config, overrides={"FILTER": "V"})


def test_saturated_and_empty_flats_are_rejected(tmp_path, caplog):
    flats = _calib_files("flat*")
    saturated = _modified_copy(flats[0], tmp_path / "sat-flat.FIT",
                               data=np.full((1024, 1024), 65535 - 32768, np.int16))
    empty = _modified_copy(flats[1], tmp_path / "empty-flat.FIT",
                           data=np.full((1024, 1024), 1000 - 32768, np.int16))
    with caplog.at_level(logging.WARNING, logger="ccdphot"):
        written, figures = make_masters(_calib_files("biases*"), (), [saturated, empty,
                                                                        flats[2]],
                                        out_dir=tmp_path / "m", config=_config())
    assert figures["flat"] == [{"filter": "Visible", "n_frames": 1, "n_rejected": 2}]
    assert "flat sat-flat.FIT rejected: median 65535.0 ADU" in caplog.text
    assert "flat empty-flat.FIT rejected: median 1000.0 ADU" in caplog.text
    with pytest.raises(InputError, match="every flat of filter Visible was rejected"):
        make_masters(_calib_files("biases*"), (), [saturated, empty], out_dir=tmp_path / "n",
                     config=_config())


def test_unknown_or_wrong_image_type(tmp_path):
    odd = _modified_copy(_calib_files("biases*")[0], tmp_path / "odd.FIT", IMAGETYP="Focus")
    with pytest.raises(InputError, match="odd.FIT: header IMAGETYP: IMAGETYP='Focus' is not a"):
        make_masters([odd], out_dir=tmp_path, config=_config())
    with pytest.raises(InputError, match="given as a bias but its header says dark"):
        make_masters(_calib_files("darks*"), out_dir=tmp_path, config=_config())
    with pytest.raises(ConfigError, match="give the bias frames too"):
        make_masters((), _calib_files("darks*"), out_dir=tmp_path, config=_config())


def test_profile_trim_section_is_applied(tmp_path):
    profile = tmp_path / "sbig.toml"
    profile.write_text('name = "SBIG_test"\n[calibration]\ntrimsec = "[11:1010,21:1020]"\n')
    written, _ = make_masters(_calib_files("biases*"), (), _calib_files("flat*")[:2],
                              tmp_path / "m", _config(), profile_choice=str(profile))
    assert all(fits.getdata(p).shape == (1000, 1000) for p in written)
    config = load_config(data={"calibrate": {"masters_dir": str(tmp_path / "m")}})
    frame = _calib_files("flat*")[2]
    result = run_frame(frame, config, steps=["header", "calibrate"], out=tmp_path / "R",
                       options={"profile": str(profile)})
    assert fits.getdata(result.out_dir / "work" / "frame.fits").shape == (1000, 1000)
    assert fits.getdata(result.out_dir / "work" / "mask.fits").shape == (1000, 1000)
    header = shift_wcs_for_trim(fits.Header({"CRPIX1": 512.0, "CRPIX2": 512.0}),
                                "[11:1010,21:1020]")
    assert (header["CRPIX1"], header["CRPIX2"]) == (502.0, 492.0)
