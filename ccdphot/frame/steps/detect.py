"""``detect`` step: SExtractor detection list, MAG_AUTO, FWHM, background, seeing.

Its detection list is the one list every later photometry method measures, so
the unified table is created here, one row per SExtractor NUMBER. An
observer's own ``.sex`` file (``[detect] sextractor_config``) is honoured as
given; its magnitudes are moved onto ``[photometry] zero_point_mag`` so that
every method's magnitudes compare (``work/detections.ldac`` keeps them as
SExtractor wrote them).

The frame's crowding index (:func:`ccdphot.detection.crowded.crowding_index`)
is measured on that list; a crowded frame (``[detect.crowded] enabled``,
"auto" by the index) is detected again with the crowded-field setup, and the
psf step's ``[psf] passes = "auto"`` follows the same decision.
"""

import logging
from pathlib import Path

import numpy as np
from astropy.table import Table

from ccdphot.detection.crowded import (
    CROWDED_INDEX,
    crowded_settings,
    crowding_index,
    is_crowded,
)
from ccdphot.errors import ConfigError, ToolError
from ccdphot.frame.table import fill_by_number, new_unified
from ccdphot.wrappers import sextractor

log = logging.getLogger(__name__)


def run(ctx):
    detect = ctx.config["detect"]
    zero_point_mag = ctx.config["photometry"]["zero_point_mag"]
    tool = ctx.tools.use("sextractor")
    setup = _setup(ctx, detect, zero_point_mag)
    result = sextractor.Job(tool, ctx.work_dir, image_name=ctx.image_name, **setup).run()
    detections = sextractor.on_zero_point(result.table, zero_point_mag)
    if len(detections) == 0:
        raise ToolError(tool.label, "found no sources above the detection threshold; check "
                        "the frame, or lower [detect] detect_thresh_sigma (DETECT_THRESH)")
    fwhm, n_stars = sextractor.seeing(detections, detect["seeing_min_snr"],
                                      detect["seeing_max_elongation"])
    crowded = _crowding(ctx, detect["crowded"]["enabled"], detections, fwhm.value)
    if crowded and not detect["sextractor_config"]:
        setup["settings"].update(crowded_settings(detect["crowded"], fwhm.value, ctx.work_dir))
        result = sextractor.Job(tool, ctx.work_dir, image_name=ctx.image_name, **setup).run()
        log.info("crowded-field detection: %d detections (normal setup: %d)",
                 len(result.table), len(detections))
        detections = sextractor.on_zero_point(result.table, zero_point_mag)
    ctx.qc["crowded_detection"] = bool(crowded and not detect["sextractor_config"])
    ctx.detections = detections
    ctx.memo["sextractor_setup"] = setup  # the psf step's residual passes detect the same way
    first_aperture = Table({"NUMBER": detections["NUMBER"],
                            "MAG_APER": _first(detections["MAG_APER"]),
                            "MAGERR_APER": _first(detections["MAGERR_APER"])})
    table = new_unified(detections["NUMBER"])
    fill_by_number(table, detections, {name: name for name in (
        "MAG_AUTO", "MAGERR_AUTO", "X_IMAGE", "Y_IMAGE", "FWHM_IMAGE", "FLAGS")})
    fill_by_number(table, first_aperture, {"MAG_APER": "MAG_APER", "MAGERR_APER": "MAGERR_APER"})
    table.meta["MAG_APER_SOURCE"] = (
        f"SExtractor, diameter {result.figures['aperture_diameters_pix'][0]:g} pix")
    ctx.table = table
    scale = ctx.pixel_scale_arcsec()
    ctx.qc.update({
        "n_detections": len(detections),
        "seeing_fwhm_pix": round(fwhm.value, 3),
        "seeing_fwhm_arcsec": round(fwhm.value * scale, 3) if scale else None,
        "seeing_n_stars": n_stars,
        "background_adu": _rounded(detections.meta.get("background_adu")),
        "background_rms_adu": _rounded(detections.meta.get("background_rms_adu")),
    })
    return {key: ctx.qc[key] for key in ("n_detections", "seeing_fwhm_pix", "seeing_fwhm_arcsec",
                                         "seeing_n_stars", "background_adu",
                                         "background_rms_adu", "crowding_index", "crowded",
                                         "crowded_detection")}


def _crowding(ctx, setting, detections, fwhm_pix):
    """The frame's crowding index and whether it is crowded (into ctx.qc); the decision.

    ``[detect.crowded] enabled = "auto"`` decides by the index; with ``--legacy``
    the legacy star list is the detection list, so "auto" keeps the normal setup.
    """
    index = crowding_index(detections["X_IMAGE"], detections["Y_IMAGE"], fwhm_pix, ctx.shape)
    legacy = setting == "auto" and bool(ctx.options.get("legacy_dir"))
    crowded = False if legacy else is_crowded(setting, index)
    ctx.qc["crowding_index"] = round(index, 3) if np.isfinite(index) else None
    ctx.qc["crowded"] = crowded
    why = ("--legacy: the legacy star list is measured" if legacy else
           f"[detect.crowded] enabled = {setting}" if setting != "auto" else
           f"auto, crowded from {CROWDED_INDEX}")
    log.info("crowding index %.3f (%d detections x pi (3 x %.2f pix)^2 / image area): %s (%s)",
             index, len(detections), fwhm_pix, "crowded" if crowded else "not crowded", why)
    return crowded


def _setup(ctx, detect, zero_point_mag):
    """The Job's configuration: the user's .sex file as given, or ccdphot's own."""
    if detect["sextractor_config"]:
        path = Path(detect["sextractor_config"]).expanduser()
        if not path.is_file():
            raise ConfigError(f"[detect] sextractor_config = {str(path)!r}: no such file; "
                              "give the path of your SExtractor .sex file")
        log.info("SExtractor configured by %s as given ([detect] thresholds, apertures and "
                 "filter not applied; [detect.sextractor] overrides applied)", path)
        if ctx.weight_name:
            log.warning("the calibrate step's bad-pixel weight map %s is not used: %s sets "
                        "SExtractor's weighting", ctx.weight_name, path.name)
        return {"config_file": path, "settings": dict(detect["sextractor"])}
    gain = ctx.header_float("GAIN")
    saturate = ctx.header_float("SATURATE")
    if gain is None:
        log.warning("no GAIN in the header: SExtractor errors assume an infinite gain "
                    "(set GAIN in the header step or a telescope profile)")
    if saturate is None:
        log.warning("no SATURATE in the header: saturated stars are not flagged")
    return {"settings": sextractor.ccdphot_settings(
        detect, zero_point_mag, gain_e_per_adu=gain, saturate_adu=saturate,
        pixel_scale_arcsec=ctx.pixel_scale_arcsec(), weight_image=ctx.weight_name)}


def _first(column):
    """First aperture of a (possibly multi-aperture) SExtractor column."""
    return column[:, 0] if column.ndim == 2 else column


def _rounded(value, digits=4):
    return None if value is None else round(float(value), digits)
