"""``calibrate`` step: bias, dark and flat with ccdproc, and the bad-pixel mask.

The masters come from ``[calibrate] master_bias/dark/flat`` or are found in
``[calibrate] masters_dir`` (see :func:`ccdphot.calibration.find_masters`).
The working copy ``work/frame.fits`` is replaced by the calibrated frame; the
bit mask goes to ``work/mask.fits`` (0 good; 1 bad pixel, 2 saturated, 4 no
data), the 1-sigma uncertainty to ``work/sigma.fits`` (when GAIN and RDNOISE
are known), and, when the mask has bad or empty pixels, a SExtractor weight
map (0 there, 1 elsewhere) to ``work/weight.fits``.

Without masters nothing is faked: the frame is measured as it is (fine for a
frame the observatory already calibrated, which the record notes), the mask
still flags saturated and empty pixels, and the figures say ``applied: false``
with the reason. ``[calibrate] require_masters = true`` makes that a failure.
"""

import logging

import numpy as np
from astropy.io import fits
from astropy.nddata import CCDData

from ccdphot.calib.apply import (
    calibrate,
    calibrated_header,
    masters_for,
    shift_wcs_for_trim,
)
from ccdphot.calib.masters import MASK_BAD, MASK_NO_DATA, prepare_raw, trim_section
from ccdphot.errors import InputError
from ccdphot.fitsio import celestial_wcs
from ccdphot.header.profiles import frame_profile
from ccdphot.products import write_fits_atomic

log = logging.getLogger(__name__)

MASK_NAME, WEIGHT_NAME, SIGMA_NAME = "mask.fits", "weight.fits", "sigma.fits"
# Header keywords by which observatory pipelines say a frame is already calibrated.
CALIBRATED_MARKS = ("FF-FLAG", "FLATCOR", "L1NAMEFL", "DK-FLAG", "DARKCOR", "ZEROCOR",
                    "BIASCORR", "FLATCORR")


def _already_calibrated(header):
    return [key for key in CALIBRATED_MARKS if key in header]


def run(ctx):
    config = ctx.config["calibrate"]
    header = ctx.header
    std_record = ctx.details.get("header", {}).get("values", {})
    std = _StandardValues(std_record, header)
    data = fits.getdata(ctx.image_path)
    ccd = CCDData(data, unit="adu", meta=header)
    profile = frame_profile(header, ctx.options.get("profile") or ctx.config["header"]["profile"])
    trimmed = prepare_raw(ccd, header, profile)  # masters are made of trimmed frames
    masters = masters_for(config, std, trimmed.shape)
    if masters:
        ccd = trimmed
        header = shift_wcs_for_trim(header, trim_section(header, profile))
    elif config["require_masters"]:
        raise InputError(f"{ctx.input_path.name}: no master bias/dark/flat to apply and "
                         "[calibrate] require_masters is true; set [calibrate] master_* or "
                         "masters_dir (make them with `ccdphot calib masters`)")
    calibrated, mask, record = calibrate(ccd, std, masters, config)
    if not masters:
        marks = _already_calibrated(header)
        record["reason"] = ("no masters configured ([calibrate] master_bias/dark/flat or "
                            "masters_dir)" if not config["masters_dir"] else
                            f"no matching master in {config['masters_dir']}")
        if marks:
            record["reason"] += f"; frame already calibrated ({', '.join(marks)})"
        (log.info if marks else log.warning)("calibration not applied: %s", record["reason"])
        if not marks:
            log.warning("the frame shows no sign of earlier calibration: photometry of a raw "
                        "frame")
    header = calibrated_header(header, record)
    ctx.header = header
    ctx.shape = calibrated.shape
    if masters:
        write_fits_atomic(ctx.image_path, np.asarray(calibrated.data, np.float32), header)
        ctx.wcs = celestial_wcs(header)
    write_fits_atomic(ctx.work_dir / MASK_NAME, mask, fits.Header())
    ctx.mask_name = MASK_NAME
    if calibrated.uncertainty is not None and masters:
        write_fits_atomic(ctx.work_dir / SIGMA_NAME,
                          np.asarray(calibrated.uncertainty.array, np.float32), fits.Header())
        record["sigma_file"] = SIGMA_NAME
    if np.any(mask & (MASK_BAD | MASK_NO_DATA)):
        weight = ((mask & (MASK_BAD | MASK_NO_DATA)) == 0).astype(np.float32)
        write_fits_atomic(ctx.work_dir / WEIGHT_NAME, weight, fits.Header())
        ctx.weight_name = WEIGHT_NAME
        record["weight_file"] = WEIGHT_NAME
    record["mask_file"] = MASK_NAME
    ctx.details["calibrate"] = record
    ctx.qc["calibrated"] = record["applied"]
    if "saturate_adu" in record:
        ctx.qc["saturate_adu"] = round(record["saturate_adu"], 2)
    figures = {"applied": record["applied"], "masters": record["masters"] or None,
               "n_masked_pix": record["n_masked"], "n_saturated_pix": record["n_saturated"]}
    if "reason" in record:
        figures["reason"] = record["reason"]
    return figures


class _StandardValues:
    """The header step's standard values (or the header's own, without that step)."""

    def __init__(self, record, header):
        self.record = record
        self.header = header

    def get(self, key):
        if key in self.record:
            return self.record[key]["value"]
        value = self.header.get(key)
        if key in ("XBINNING", "YBINNING") and value is None:
            return 1
        return value
