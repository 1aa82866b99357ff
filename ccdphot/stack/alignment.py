"""Put the frames of a stack on the reference frame's pixel grid: by WCS or by stars.

By WCS (every frame has one): each frame is resampled through its own WCS,
after checking that it covers the reference frame (else it is of another
field). By stars (some frame has no WCS, or asked for): SExtractor finds the
stars of every frame, :func:`ccdphot.astrometry.align.align_sources` gives the
affine transform onto the reference frame, and each frame gets a WCS that
composes that transform with a plain TAN grid of the reference frame's shape.
That grid is only a vehicle for the resampling engines; the stack gets the
reference frame's own WCS, or none when it had none.
"""

import logging

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.wcs.utils import proj_plane_pixel_scales

from ccdphot.astrometry.align import align_sources
from ccdphot.astrometry.wcsfit import guess_wcs
from ccdphot.errors import AstrometryError, InputError
from ccdphot.wrappers import sextractor

log = logging.getLogger(__name__)

ALIGN_MODES = ("auto", "wcs", "stars")
_GRID_STEPS = 24
# Pixel scale of the vehicle grid when no frame says its scale (only its ratio matters).
_VEHICLE_SCALE_ARCSEC = 1.0


def alignment_mode(frames, requested):
    """"wcs" or "stars" for ``requested`` ("auto", "wcs", "stars")."""
    if requested not in ALIGN_MODES:
        raise InputError(f"alignment {requested!r}: use one of {', '.join(ALIGN_MODES)}")
    without = [frame.name for frame in frames if frame.wcs is None]
    if requested == "wcs" and without:
        raise InputError(f"{without[0]}: no WCS in the header, so the frames cannot be "
                         "aligned by WCS; align them by stars (--align stars) or solve "
                         "the astrometry first (ccdphot run)")
    if requested == "auto":
        return "stars" if without else "wcs"
    return requested


def overlap_fraction(wcs, shape, ref_wcs, ref_shape, steps=_GRID_STEPS):
    """Fraction of the reference frame's area that a frame (``wcs``, ``shape``) covers."""
    ny, nx = ref_shape
    gx, gy = np.meshgrid(np.linspace(0, nx - 1, steps), np.linspace(0, ny - 1, steps))
    sky = ref_wcs.celestial.pixel_to_world(gx.ravel(), gy.ravel())
    x, y = wcs.celestial.world_to_pixel(sky)
    inside = (x > -0.5) & (x < shape[1] - 0.5) & (y > -0.5) & (y < shape[0] - 0.5)
    return float(np.mean(inside & np.isfinite(x) & np.isfinite(y)))


def check_one_field(frames, reference, min_overlap):
    """Raise InputError for a frame covering less than ``min_overlap`` of the reference."""
    for frame in frames:
        if frame is reference:
            continue
        covered = overlap_fraction(frame.wcs, frame.data.shape, reference.wcs,
                                   reference.data.shape)
        if covered < min_overlap:
            raise InputError(
                f"{frame.name}: covers {100 * covered:.0f} % of the reference frame "
                f"{reference.name} (at least {100 * min_overlap:.0f} % needed, [stack] "
                "min_overlap): a frame of another field; stack frames of one field")


def vehicle_grid(reference):
    """A plain TAN WCS of the reference frame's shape, to resample frames aligned by stars."""
    scale = _VEHICLE_SCALE_ARCSEC
    if reference.wcs is not None:
        scale = float(np.mean(proj_plane_pixel_scales(reference.wcs.celestial)) * 3600.0)
    elif reference.std.get("PIXSCALE"):
        scale = float(reference.std.get("PIXSCALE"))
    return guess_wcs(SkyCoord(0.0, 0.0, unit="deg"), scale, reference.data.shape)


def composed_wcs(grid, alignment):
    """WCS of a frame whose pixels map onto ``grid``'s pixels by ``alignment`` (linear TAN)."""
    matrix = np.asarray(alignment.matrix, dtype=float)
    shift = np.asarray(alignment.shift, dtype=float)
    wcs = grid.deepcopy()
    wcs.wcs.cd = grid.wcs.cd @ matrix
    wcs.wcs.crpix = np.linalg.solve(matrix, grid.wcs.crpix - shift)
    return wcs


def _detections(tool, work_dir, image_name, frame, detect_config):
    """The frame's stars found by SExtractor (unflagged or only blended)."""
    settings = sextractor.ccdphot_settings(detect_config, 25.0,
                                           gain_e_per_adu=frame.std.get("GAIN"),
                                           saturate_adu=frame.std.get("SATURATE"))
    table = sextractor.Job(tool, work_dir, image_name=image_name, settings=settings).run().table
    good = (np.asarray(table["FLAGS"]) < 4) & (np.asarray(table["MAG_AUTO"], float) < 90)
    return table[good]


def align_by_stars(frames, image_names, work_dir, tool, detect_config, radius_pix,
                   thresh_sigma):
    """(vehicle grid WCS, WCS per frame, alignment record per frame) from star patterns.

    ``image_names`` are the frames' working copies in ``work_dir`` (SExtractor
    reads them with ``detect_config`` and a detection threshold of
    ``thresh_sigma``: bright stars are enough); the first frame is the reference.
    """
    detect_config = {**detect_config, "detect_thresh_sigma": thresh_sigma}
    grid = vehicle_grid(frames[0])
    reference = _detections(tool, work_dir, image_names[0], frames[0], detect_config)
    wcs_list, records = [grid], [{"frame": frames[0].name, "how": "reference"}]
    for frame, name in zip(frames[1:], image_names[1:]):
        stars = _detections(tool, work_dir, name, frame, detect_config)
        try:
            alignment = align_sources(stars, reference, radius_pix=radius_pix)
        except AstrometryError as err:
            raise InputError(f"{frame.name}: cannot be aligned to the reference frame "
                             f"{frames[0].name} by its stars: {err} (a frame of another "
                             "field?)") from err
        log.info("%s aligned by %s: %d stars, RMS %.3f pix", frame.name, alignment.how,
                 alignment.n_matched, alignment.rms_pix)
        wcs_list.append(composed_wcs(grid, alignment))
        records.append({"frame": frame.name, **alignment.as_dict()})
    return grid, wcs_list, records
