"""Stacking, frame alignment and colour-magnitude diagrams on the SkyCamZ frames.

The five SkyCamZ frames (10 s each, one field drifting and rotating slowly)
are read from ../shared/data (no licence to copy them). Measured figures are
printed (pytest -s) and bounded loosely: the noise of a mean stack falls as
1/sqrt(N), its stars stay where they are in the reference frame, and it
reaches ~1.25 log10(N) mag deeper.
"""

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from ccdphot.astrometry.align import align_sources
from ccdphot.astrometry.wcsfit import strip_wcs
from ccdphot.config import load_config
from ccdphot.errors import AstrometryError, InputError, OutputError
from ccdphot.frame.pipeline import run_frame
from ccdphot.stack.cmd import build_cmd, write_cmd
from ccdphot.stack.keywords import noise_keywords, time_keywords
from ccdphot.stack.quality import limiting_magnitude, position_offsets
from ccdphot.stack.stacking import stack_frames
from ccdphot.wrappers.sextractor import read_catalog

N_FRAMES = 5


@pytest.fixture(scope="module")
def skycamz(shared_data):
    frames = sorted((shared_data / "skycamz").glob("*.fits"))
    assert len(frames) == N_FRAMES
    return frames


@pytest.fixture(scope="module")
def config():
    return load_config(data={"plots": {"qc": False}})


@pytest.fixture(scope="module")
def single(skycamz, config, tmp_path_factory):
    """header + detect of the reference (first) frame."""
    out = tmp_path_factory.mktemp("single")
    return run_frame(skycamz[0], config, steps=["header", "detect"], out=out)


@pytest.fixture(scope="module")
def swarp_stack(skycamz, config, tmp_path_factory):
    out = tmp_path_factory.mktemp("swarp") / "sky camz stack.fits"
    result = stack_frames(skycamz, out, config, method="mean", engine="swarp")
    detected = run_frame(result.path, config, steps=["header", "detect"], out=out.parent / "R")
    return result, detected


# --- the SWarp stack of the five frames -----------------------------------------

@pytest.mark.requires_swarp
@pytest.mark.requires_sextractor
def test_stack_header_keywords(swarp_stack, skycamz):
    result, detected = swarp_stack
    header = fits.getheader(result.path)
    assert header["NCOMBINE"] == N_FRAMES
    assert header["EXPTIME"] == pytest.approx(10.0)
    assert header["TEXPTIME"] == pytest.approx(50.0)
    assert header["DATE-OBS"].startswith("2013-06-10T23:45:16")  # start of the first frame
    assert header["DATE-END"].startswith("2013-06-10T23:49:25")  # 23:49:15 + 10 s
    # mid-time: mean of the frames' mid-exposure times (MJD of each DATE-OBS + 5 s)
    assert header["DATE-AVG"].startswith("2013-06-10T23:47:2")
    assert [header[f"IMCMB{i:03d}"] for i in range(1, 6)] == [p.name for p in skycamz]
    assert header["STACKMTH"] == "mean" and header["STACKENG"].startswith("SWarp")
    assert "JD" not in header and "MJD" not in header  # the first frame's times are gone
    assert fits.getdata(result.weight_path).shape == (1024, 1024)
    # ccdphot run takes DATE-AVG as the stack's mid-exposure time
    std = detected.record["details"]["header"]["values"]
    assert std["MJD"]["value"] == pytest.approx(header["MJD-AVG"], abs=1e-7)


@pytest.mark.requires_swarp
@pytest.mark.requires_sextractor
def test_stack_noise_falls_as_one_over_sqrt_n(swarp_stack):
    figures = swarp_stack[0].figures
    print(f"\nbackground noise stack/single = {figures['noise_ratio']:.3f}, "
          f"1/sqrt({N_FRAMES}) = {1 / math.sqrt(N_FRAMES):.3f}")
    assert figures["noise_ratio_expected"] == pytest.approx(1 / math.sqrt(N_FRAMES), abs=1e-4)
    assert figures["noise_ratio"] == pytest.approx(1 / math.sqrt(N_FRAMES), rel=0.15)


@pytest.mark.requires_swarp
@pytest.mark.requires_sextractor
def test_stack_keeps_star_positions(swarp_stack, single):
    offsets = position_offsets(swarp_stack[1].table, single.table)
    median = np.median(offsets, axis=0)
    print(f"\n{len(offsets)} stars: median offset stack - single ({median[0]:+.3f}, "
          f"{median[1]:+.3f}) pix, median distance {np.median(np.hypot(*offsets.T)):.3f} pix")
    assert len(offsets) > 50
    assert np.all(np.abs(median) < 0.1)


@pytest.mark.requires_swarp
@pytest.mark.requires_sextractor
def test_stack_goes_deeper(swarp_stack, single):
    gain = limiting_magnitude(swarp_stack[1].table) - limiting_magnitude(single.table)
    expected = 1.25 * math.log10(N_FRAMES)
    print(f"\nlimiting magnitude (S/N 5) deeper by {gain:.3f} mag; 1.25 log10(N) = {expected:.3f}")
    assert expected - 0.25 < gain < expected + 0.35


# --- alignment by star patterns, without WCS --------------------------------------

@pytest.mark.requires_sextractor
def test_frames_without_wcs_are_aligned_by_stars(skycamz, single, config, tmp_path):
    copies = []
    for path in skycamz[:3]:
        with fits.open(path) as hdul:
            copy = tmp_path / path.name
            fits.PrimaryHDU(hdul[0].data, strip_wcs(hdul[0].header)).writeto(copy)
            copies.append(copy)
    result = stack_frames(copies, tmp_path / "stack.fits", config, method="median",
                          engine="reproject")
    assert result.figures["align"] == "stars"
    # the field drifts ~4 pix and turns ~0.35 degree per frame (SkyCamZ on an alt-az mount)
    assert {a["how"] for a in result.figures["alignments"][1:]} <= {"translation",
                                                                    "triangle pattern"}
    assert all(a["rms_pix"] < 0.5 for a in result.figures["alignments"][1:])
    header = fits.getheader(result.path)
    assert header["STACKALN"] == "star patterns" and "CTYPE1" not in header
    detected = run_frame(result.path, config, steps=["header", "detect"], out=tmp_path / "R")
    offsets = position_offsets(detected.table, single.table)
    print(f"\nstar-aligned stack: median offset {np.median(offsets, axis=0)} pix")
    assert len(offsets) > 50 and np.all(np.abs(np.median(offsets, axis=0)) < 0.1)


def _detections():
    table = read_catalog(Path(__file__).parent / "data" / "sextractor" / "NGC6871_detections.ldac")
    return table[(table["FLAGS"] == 0) & (table["MAG_AUTO"] < 90)]


def test_align_sources_recovers_a_known_rotation_and_shift():
    reference = _detections()
    angle = np.radians(1.3)
    matrix = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shift = np.array([12.4, -7.9])
    xy = np.column_stack([reference["X_IMAGE"], reference["Y_IMAGE"]])
    moved = Table(reference, copy=True)
    # the frame's positions x are such that matrix @ x + shift lands on the reference
    frame_xy = (xy - shift) @ np.linalg.inv(matrix).T
    moved["X_IMAGE"], moved["Y_IMAGE"] = frame_xy[:, 0], frame_xy[:, 1]
    alignment = align_sources(moved, reference)
    assert np.allclose(alignment.matrix, matrix, atol=1e-6)
    assert np.allclose(alignment.shift, shift, atol=1e-3)
    assert alignment.rms_pix < 1e-3 and alignment.n_matched > 0.9 * len(reference)


def test_align_sources_refuses_another_field():
    reference = _detections()
    other = Table(reference, copy=True)
    rng = np.random.default_rng(1)
    other["X_IMAGE"] = rng.uniform(1, 1250, len(other))
    other["Y_IMAGE"] = rng.uniform(1, 1150, len(other))
    with pytest.raises(AstrometryError, match="no star pattern in common"):
        align_sources(other[:200], reference[:200])


# --- header figures of a combination (exact truth) -------------------------------

def test_noise_keywords_of_equal_frames():
    mean = noise_keywords("mean", [1.0] * 4, gains=[2.0] * 4, rdnoises=[5.0] * 4,
                          saturates=[60000.0] * 4)
    assert mean == pytest.approx({"GAIN": 8.0, "RDNOISE": 10.0, "SATURATE": 60000.0})
    median = noise_keywords("median", [1.0] * 4, gains=[2.0] * 4, rdnoises=[5.0] * 4)
    assert median["GAIN"] == pytest.approx(8.0 * 2 / math.pi)
    assert median["RDNOISE"] == pytest.approx(5.0 * math.sqrt(8 / math.pi))
    assert noise_keywords("mean", [1.0, 1.0], gains=[2.0, None]) == {}


def test_noise_keywords_of_scaled_exposures():
    # 10 s and 30 s frames scaled to 20 s: s = (2, 2/3)
    values = noise_keywords("mean", [2.0, 2 / 3], gains=[1.0, 1.0], saturates=[1000.0, 1000.0])
    assert values["GAIN"] == pytest.approx(4.0 / (2.0 + 2 / 3))
    assert values["SATURATE"] == pytest.approx(2 / 3 * 1000.0)


def test_time_keywords():
    from astropy.time import Time
    starts = [Time("2020-01-01T00:00:00"), Time("2020-01-01T00:01:00")]
    values = time_keywords(starts, [10.0, 30.0])
    assert values["DATE-OBS"] == "2020-01-01T00:00:00.000"
    assert values["DATE-END"] == "2020-01-01T00:01:30.000"
    # exposure-weighted mid time: (10 * 5 s + 30 * 75 s) / 40 = 57.5 s
    assert values["DATE-AVG"] == "2020-01-01T00:00:57.500"


def test_a_stack_header_is_read_as_written_whatever_the_profile():
    """The Bialkow profile reads RDNOISE in ADU from raw frames; a stack's header
    (CCDPSTD) has it in electrons already, and its DATE-AVG is the mid time."""
    from astropy.io.fits import Header

    from ccdphot.header.profiles import load_profile
    from ccdphot.header.standard import standardise
    header = Header({"OBSERVAT": "BIALKOW", "INSTRUME": "ANDOR_CCD", "EXPTIME": 20.0,
                     "GAIN": 45.0, "RDNOISE": 4.02, "DATE-OBS": "2014-07-25T21:21:41",
                     "DATE-AVG": "2014-07-25T21:30:00", "CCDPSTD": True})
    std = standardise(header, load_profile("Bialkow_Andor"))
    assert std.get("RDNOISE") == pytest.approx(4.02) and std.get("GAIN") == pytest.approx(45.0)
    assert std.get("MJD") == pytest.approx(56863.89583333, abs=1e-7)


# --- the SWarp wrapper: build and parse without running it ---------------------------

def test_swarp_job_writes_grid_inputs_and_config(skycamz, tmp_path):
    from astropy.wcs import WCS

    from ccdphot.wrappers import swarp
    wcs = WCS(fits.getheader(skycamz[0]))
    job = swarp.Job(None, tmp_path, images=("frame_001.fits", "frame_002.fits"), grid_wcs=wcs,
                    shape=(1024, 1000), method="sigclip", scales=(1.0, 0.5),
                    input_wcs=(None, wcs), settings={"CLIP_SIGMA": 2.5})
    assert job.build() == ["frame_001.fits", "frame_002.fits", "-c", swarp.CONFIG_NAME]
    grid = fits.Header.fromfile(tmp_path / swarp.GRID_NAME, sep="\n", endcard=True,
                                padding=False)
    assert (grid["NAXIS1"], grid["NAXIS2"]) == (1000, 1024) and "CD1_1" in grid
    first = (tmp_path / "frame_001.head").read_text()
    assert "FLXSCALE=                  1.0" in first and "CTYPE1" not in first
    assert "CD1_2" in (tmp_path / "frame_002.head").read_text()
    config = (tmp_path / swarp.CONFIG_NAME).read_text()
    assert "COMBINE_TYPE     CLIPPED" in config and "CLIP_SIGMA       2.5" in config
    assert "SUBTRACT_BACK          N" in config


def test_swarp_output_of_another_shape_is_a_parse_error(tmp_path):
    from ccdphot.errors import OutputParseError
    from ccdphot.wrappers import swarp
    fits.PrimaryHDU(np.zeros((4, 5), np.float32)).writeto(tmp_path / swarp.OUTPUT_NAME)
    fits.PrimaryHDU(np.zeros((5, 5), np.float32)).writeto(tmp_path / swarp.WEIGHT_NAME)
    with pytest.raises(OutputParseError, match="weight map of shape"):
        swarp.read_stack(tmp_path)


# --- bad input ---------------------------------------------------------------------

def test_a_stack_of_one_frame_is_refused(skycamz, config, tmp_path):
    with pytest.raises(InputError, match="at least two frames"):
        stack_frames(skycamz[:1], tmp_path / "s.fits", config)


def test_a_frame_given_twice_is_refused(skycamz, config, tmp_path):
    with pytest.raises(InputError, match="given twice"):
        stack_frames([skycamz[0], skycamz[1], skycamz[0]], tmp_path / "s.fits", config)


def test_frames_of_another_field_are_refused(skycamz, ngc6871_fits, config, tmp_path):
    with pytest.raises(InputError, match="covers 0 % of the reference frame.*another field"):
        stack_frames([skycamz[0], ngc6871_fits], tmp_path / "s.fits", config,
                     engine="reproject", header_values={"FILTER": "clear"})


def test_alignment_by_wcs_needs_a_wcs(skycamz, config, tmp_path):
    copy = tmp_path / "no wcs.fits"
    with fits.open(skycamz[1]) as hdul:
        fits.PrimaryHDU(hdul[0].data, strip_wcs(hdul[0].header)).writeto(copy)
    with pytest.raises(InputError, match="no wcs.fits: no WCS"):
        stack_frames([skycamz[0], copy], tmp_path / "s.fits", config, align="wcs")


def test_the_stack_never_overwrites_an_input(skycamz, config, tmp_path):
    inputs = [shutil.copy(path, tmp_path) for path in skycamz[:2]]
    with pytest.raises(OutputError, match="would overwrite the input frame"):
        stack_frames(inputs, inputs[1], config)


def test_cli_one_line_error(skycamz, tmp_path, ccdphot_cli):
    done = ccdphot_cli("stack", skycamz[0], "--out", tmp_path / "s.fits")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(
        "ccdphot: error: a stack needs at least two frames, got 1")


# --- colour-magnitude diagram ------------------------------------------------------

@pytest.fixture(scope="module")
def two_bands(skycamz, config, tmp_path_factory):
    """Frames 1 and 5 as 'V' and 'R': the data hold no two-filter pair of one field, so
    the second band is another real exposure of the same field, labelled R."""
    out = tmp_path_factory.mktemp("bands")
    return [run_frame(path, config, steps=["header", "detect"], out=out,
                      options={"header_values": {"FILTER": band}}).out_dir
            for path, band in ((skycamz[0], "V"), (skycamz[-1], "R"))]


@pytest.mark.requires_sextractor
def test_cmd_of_two_frames(two_bands, tmp_path):
    result = write_cmd(*two_bands, tmp_path)
    table = result["table"]
    assert result["magnitudes"] == "instrumental" and table.meta["filters"] == ["V", "R"]
    assert result["n_matched"] > 500
    precise = np.asarray(table["MAGERR_V"]) < 0.02
    # one field, one real passband: the "colour" of bright stars is ~0
    assert abs(np.median(table["COLOUR"][precise])) < 0.05
    assert (tmp_path / "cmd.png").stat().st_size > 10000


@pytest.mark.requires_sextractor
def test_cmd_refuses_mismatched_fields(two_bands, ngc6871_fits, config, tmp_path):
    other = run_frame(ngc6871_fits, config, steps=["header", "detect"], out=tmp_path,
                      options={"header_values": {"FILTER": "I"}}).out_dir
    with pytest.raises(InputError, match="different fields"):
        write_cmd(two_bands[0], other, tmp_path)


def test_cmd_is_calibrated_when_both_frames_have_zero_points():
    def band(name, mags):
        n = len(mags)
        table = Table({"ALPHA_J2000": 10.0 + np.arange(n) * 1e-3, "DELTA_J2000": np.full(n, 20.0),
                       "MAG_APER": np.asarray(mags) - 25.0, "MAGERR_APER": np.full(n, 0.01),
                       "MAG_CAL": np.asarray(mags), "MAGERR_CAL": np.full(n, 0.02)})
        table.meta.update(frame=f"frame_{name}", filter=name)
        return table

    cmd = build_cmd(band("B", np.linspace(12, 16, 20)), band("V", np.linspace(11.5, 15.5, 20)),
                    radius_arcsec=1.0)
    assert cmd.meta["magnitudes"] == "calibrated" and cmd.meta["column"] == "MAG_CAL"
    assert np.allclose(cmd["COLOUR"], 0.5)
