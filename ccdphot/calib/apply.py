"""Applying master bias, dark and flat frames to a science frame (ccdproc).

Masters are found by kind, filter, binning and date in a masters directory
(or named in the config), checked against the frame, and applied in the
usual order; the record of what was applied goes to run.json.
"""

import logging
from pathlib import Path

import ccdproc
import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData
from astropy.stats import mad_std
from astropy.time import Time

from ccdphot.calib.masters import (
    MASK_BAD,
    MASK_NO_DATA,
    MASK_SATURATED,
    MASTER_KEY,
    read_raw,
    section_slice,
    trim_section,
)
from ccdphot.errors import ConfigError, InputError
from ccdphot.fitsio import frame_stem, read_frame
from ccdphot.products import write_fits_atomic

log = logging.getLogger(__name__)


def read_master(path, kind):
    """A master frame made by :func:`make_masters` as CCDData."""
    path = Path(path)
    data, header, _ = read_frame(path)
    if header.get(MASTER_KEY) not in (None, kind):
        raise InputError(f"{path}: is a master {header[MASTER_KEY]}, given as the master "
                         f"{kind}; check [calibrate] master_{kind}")
    return CCDData(data, unit="adu", meta=header)


def find_masters(masters_dir, std, shape):
    """{kind: path} of the masters in ``masters_dir`` for a frame.

    Same shape and binning; flats of the frame's filter; darks of the nearest
    exposure; among those, the closest in DATE-OBS.
    """
    folder = Path(masters_dir)
    if not folder.is_dir():
        raise ConfigError(f"[calibrate] masters_dir {folder} is not a directory")
    candidates = {"bias": [], "dark": [], "flat": []}
    for path in sorted(folder.glob("*.fits")):
        header = fits.getheader(path)
        kind = header.get(MASTER_KEY)
        if kind not in candidates or (header.get("NAXIS2"), header.get("NAXIS1")) != shape:
            continue
        if (header.get("XBINNING"), header.get("YBINNING")) != (std.get("XBINNING"),
                                                                  std.get("YBINNING")):
            continue
        if kind == "flat" and header.get("FILTER") != std.get("FILTER"):
            continue
        candidates[kind].append((path, header))
    frame_date = std.get("DATE-OBS") or ""

    def distance(item):
        path, header = item
        days = abs(_mjd(header.get("DATE-OBS")) - _mjd(frame_date))
        exposure = abs(float(header.get("EXPTIME", 0.0)) - float(std.get("EXPTIME") or 0.0))
        return (exposure, days) if header.get(MASTER_KEY) == "dark" else (0.0, days)

    return {kind: min(items, key=distance)[0] for kind, items in candidates.items() if items}


def _mjd(text):
    try:
        return float(Time(str(text), format="isot", scale="utc").mjd)
    except ValueError:
        return 0.0


def _check_master(master, kind, ccd, std, path):
    if master.shape != ccd.shape:
        raise InputError(f"master {kind} {Path(path).name} is {master.shape[::-1]} pixels but "
                         f"the frame is {ccd.shape[::-1]} (x, y, after trimming); use masters "
                         "of the same camera readout")
    binning = (master.meta.get("XBINNING", 1), master.meta.get("YBINNING", 1))
    if binning != (std.get("XBINNING"), std.get("YBINNING")):
        raise InputError(f"master {kind} {Path(path).name} has binning {binning}, the frame "
                         f"{(std.get('XBINNING'), std.get('YBINNING'))}; use masters of the "
                         "same binning")
    if kind == "flat" and master.meta.get("FILTER") != std.get("FILTER"):
        raise InputError(f"master flat {Path(path).name} is for filter "
                         f"{master.meta.get('FILTER')!r} but the frame is {std.get('FILTER')!r};"
                         " give the flat of the frame's filter")


def calibrate(ccd, std, masters, config):
    """Calibrate a raw CCDData (ADU, trimmed) with ``masters`` {kind: path}.

    Returns (calibrated CCDData with uncertainty when GAIN and RDNOISE are
    known, uint8 bit mask, record dict). The saturation bit is set from the raw
    values; SATURATE of the calibrated frame is the lowest level a saturated
    pixel can have after calibration (0.1 percentile).
    """
    raw = np.asarray(ccd.data, dtype=float)
    mask = np.zeros(ccd.shape, dtype=np.uint8)
    saturate = std.get("SATURATE")
    if saturate:
        mask[raw >= saturate] |= MASK_SATURATED
    record = {"applied": bool(masters), "masters": {k: Path(v).name for k, v in masters.items()}}
    loaded = {kind: read_master(path, kind) for kind, path in masters.items()}
    for kind, master in loaded.items():
        _check_master(master, kind, ccd, std, masters[kind])
    offset = np.zeros(ccd.shape)
    if "bias" in loaded:
        ccd = ccdproc.subtract_bias(ccd, loaded["bias"])
        offset += loaded["bias"].data
    gain, rdnoise = std.get("GAIN"), std.get("RDNOISE")
    if gain and rdnoise and masters:
        ccd = ccdproc.create_deviation(ccd, gain=gain * u.electron / u.adu,
                                       readnoise=rdnoise * u.electron, disregard_nan=True)
        record["uncertainty"] = "from GAIN and RDNOISE"
    else:
        record["uncertainty"] = ("none (GAIN or RDNOISE unknown)" if masters else
                                 "none (no calibration applied)")
    if "dark" in loaded:
        dark = loaded["dark"]
        dark_exposure = dark.meta.get("EXPTIME")
        if dark_exposure is None or std.get("EXPTIME") is None:
            raise InputError(f"master dark {Path(masters['dark']).name} or the frame has no "
                             "EXPTIME; the dark cannot be scaled (give --set EXPTIME=...)")
        scale = float(std.get("EXPTIME")) / float(dark_exposure)
        ccd = ccdproc.subtract_dark(ccd, dark, dark_exposure=float(dark_exposure) * u.s,
                                    data_exposure=float(std.get("EXPTIME")) * u.s, scale=True)
        offset += dark.data * scale
        rate = dark.data / float(dark_exposure) if dark_exposure else dark.data
        median, sigma = np.median(rate), mad_std(rate)
        hot = rate > median + config["hot_dark_sigma"] * sigma
        mask[hot] |= MASK_BAD
        record["dark_scale"] = round(scale, 5)
        record["n_hot_pixels"] = int(hot.sum())
    response = np.ones(ccd.shape)
    if "flat" in loaded:
        flat = loaded["flat"].data
        bad = ~np.isfinite(flat) | (flat < config["bad_flat_low"]) | (
            flat > config["bad_flat_high"])
        mask[bad] |= MASK_BAD
        record["n_bad_flat_pixels"] = int(bad.sum())
        ccd = ccdproc.flat_correct(ccd, loaded["flat"], min_value=config["bad_flat_low"],
                                   norm_value=1.0)
        response = np.clip(np.nan_to_num(flat, nan=1.0), config["bad_flat_low"], None)
    mask[~np.isfinite(ccd.data)] |= MASK_NO_DATA
    if saturate and masters:
        levels = (saturate - offset) / response
        good = mask == 0
        record["saturate_adu"] = float(np.percentile(levels[good] if good.any() else levels,
                                                     0.1))
    record["n_masked"] = int((mask != 0).sum())
    record["n_saturated"] = int(((mask & MASK_SATURATED) != 0).sum())
    return ccd, mask, record


def shift_wcs_for_trim(header, trimsec):
    """Move CRPIX1/2 for a frame trimmed to ``trimsec`` (FITS section)."""
    if not trimsec:
        return header
    rows, columns = section_slice(trimsec, "TRIMSEC", "header")
    header = header.copy()
    for key, start in (("CRPIX1", columns.start or 0), ("CRPIX2", rows.start or 0)):
        if key in header:
            header[key] = header[key] - start
    return header


def masters_for(config, std, shape):
    """{kind: path} from [calibrate] master_* (explicit) or the masters directory."""
    explicit = {kind: config[f"master_{kind}"] for kind in ("bias", "dark", "flat")
                if config[f"master_{kind}"]}
    for kind, path in explicit.items():
        if not Path(path).is_file():
            raise ConfigError(f"[calibrate] master_{kind} {path}: no such file")
    if explicit or not config["masters_dir"]:
        return explicit
    return find_masters(config["masters_dir"], std, shape)


def apply_masters(path, out_dir, config, profile_choice="", overrides=None):
    """``ccdphot calib apply``: calibrate one raw frame into ``out_dir``.

    Writes ``<stem>_cal.fits`` (calibrated, ADU), ``<stem>_mask.fits`` (bit
    mask) and, when the uncertainty is known, ``<stem>_sigma.fits`` (1-sigma,
    ADU). Returns (written paths, record).
    """
    frame = read_raw(path, profile_choice, overrides)
    masters = masters_for(config, frame.std, frame.ccd.shape)
    if not masters:
        raise ConfigError(f"{frame.path.name}: no master frames to apply; give --bias/--dark/"
                          "--flat or --masters DIR")
    ccd, mask, record = calibrate(frame.ccd, frame.std, masters, config)
    header = shift_wcs_for_trim(frame.ccd.meta, trim_section(frame.ccd.meta, frame.profile))
    header = calibrated_header(header, record)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = frame_stem(frame.path)
    outputs = {"cal": ccd.data, "mask": mask}
    if ccd.uncertainty is not None:
        outputs["sigma"] = ccd.uncertainty.array
    written = []
    for suffix, data in outputs.items():
        dest = out_dir / f"{stem}_{suffix}.fits"
        if dest.resolve() == frame.path.resolve():
            raise InputError(f"{dest}: would overwrite the input frame; choose another --out")
        dtype = np.uint8 if suffix == "mask" else np.float32
        written.append(write_fits_atomic(dest, np.asarray(data, dtype=dtype),
                                         header if suffix == "cal" else fits.Header()))
    return written, record


def calibrated_header(header, record):
    """The header of a calibrated frame: masters used and the new SATURATE."""
    header = header.copy()
    for kind, name in record["masters"].items():
        header[f"{kind[:4].upper()}CORR"] = (name, f"master {kind} applied by ccdphot")
    if "saturate_adu" in record:
        if "SATURATE" in header:
            header["SATU_RAW"] = (header["SATURATE"], "[ADU] saturation level of the raw frame")
        header["SATURATE"] = (round(record["saturate_adu"], 2),
                              "[ADU] lowest calibrated saturated level")
    return header
