"""CCD calibration with ccdproc: master bias, dark and flat, and applying them.

Masters are built from raw frames (overscan subtracted and trimmed as the
telescope profile says), each with its provenance in the header: inputs,
combination method, counts (``CCDPMAST`` names the kind). Applying them
subtracts bias and the exposure-scaled dark, divides by the flat, propagates
the uncertainty from the gain and read noise, and builds a bit mask:

====  =========================================================
bit   meaning
====  =========================================================
1     bad pixel (hot in the master dark, dead or hot in the flat)
2     saturated in the raw frame (at or above SATURATE)
4     no data (NaN or infinite after calibration)
====  =========================================================

Input frames are only read; masters and calibrated frames are new files.
"""

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import ccdproc
import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData
from astropy.stats import mad_std, sigma_clipped_stats
from ccdproc.utils.slices import slice_from_string

from ccdphot.errors import ConfigError, InputError
from ccdphot.fitsio import read_frame
from ccdphot.header.profiles import frame_profile
from ccdphot.header.standard import apply_standard, standardise
from ccdphot.products import write_fits_atomic

log = logging.getLogger(__name__)

MASK_BAD, MASK_SATURATED, MASK_NO_DATA = 1, 2, 4
MASTER_KEY = "CCDPMAST"
COMBINE_METHODS = ("median", "average")
DEFAULT_FLAT_LOW_ADU = 1000.0
DEFAULT_FLAT_HIGH_FRACTION = 0.9


@dataclass
class RawFrame:
    """One input frame: its path, data (CCDData in ADU, trimmed) and standard header."""

    path: Path
    ccd: CCDData
    std: object
    profile: object

    @property
    def binning(self):
        return (self.std.get("XBINNING"), self.std.get("YBINNING"))


# --- reading and checking ----------------------------------------------------

def section_slice(text, what, origin):
    try:
        return slice_from_string(text, fits_convention=True)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{origin}: {what} {text!r} is not a FITS section like "
                          "[x1:x2,y1:y2]; fix the telescope profile") from err


def trim_section(header, profile):
    """The TRIMSEC to apply: the header keyword the profile names, else the profile's."""
    if profile is None:
        return ""
    keyword = profile.keywords.get("TRIMSEC")
    if keyword and str(header.get(keyword, "")).strip():
        return str(header[keyword]).strip()
    return profile.calibration.get("trimsec", "")


def prepare_raw(ccd, header, profile):
    """Subtract the overscan and trim, as the telescope profile says."""
    calibration = profile.calibration if profile is not None else {}
    overscan = calibration.get("overscan", "")
    if overscan:
        section_slice(overscan, "overscan", f"profile {profile.name}")
        ccd = ccdproc.subtract_overscan(ccd, fits_section=overscan, median=True,
                                        overscan_axis=None)
    trimsec = trim_section(header, profile)
    if trimsec:
        section_slice(trimsec, "TRIMSEC", f"profile {profile.name}")
        ccd = ccdproc.trim_image(ccd, fits_section=trimsec)
    return ccd


def read_raw(path, profile_choice="", overrides=None):
    """Read a frame for calibration: standardised header, overscan and trim applied."""
    path = Path(path)
    data, header, _ = read_frame(path)
    profile = frame_profile(header, profile_choice)
    std = standardise(header, profile, overrides, file_name=path.name)
    ccd = CCDData(data, unit="adu", meta=apply_standard(header, std))
    return RawFrame(path, prepare_raw(ccd, header, profile), std, profile)


def check_same_geometry(frames):
    """All frames must share shape and binning (the first is the reference)."""
    first = frames[0]
    for frame in frames[1:]:
        if frame.ccd.shape != first.ccd.shape:
            raise InputError(f"{frame.path.name}: shape {frame.ccd.shape[::-1]} differs from "
                             f"{first.path.name} {first.ccd.shape[::-1]} (x, y); calibrate "
                             "frames of one camera readout at a time")
        if frame.binning != first.binning:
            raise InputError(f"{frame.path.name}: binning {frame.binning} differs from "
                             f"{first.path.name} {first.binning}; make masters per binning")


def _check_kind(frame, kind):
    """A frame given as ``kind`` must not say it is another calibration kind."""
    declared = frame.std.get("IMAGETYP")
    if declared != kind and declared != "object":
        raise InputError(f"{frame.path.name}: given as a {kind} but its header says "
                         f"{declared} ({frame.std.sources['IMAGETYP']}); check the file list")
    if declared != kind:
        log.warning("%s: given as a %s, header image type is %s (%s)", frame.path.name, kind,
                    declared, frame.std.sources["IMAGETYP"])


def _exposure(frame, role):
    exptime = frame.std.get("EXPTIME")
    if exptime is None:
        raise InputError(f"{frame.path.name}: a {role} without EXPTIME; give --set "
                         "EXPTIME=SECONDS or fix the header")
    return float(exptime)


# --- masters ------------------------------------------------------------------

def combine(ccds, method="median", clip_sigma=3.0):
    """Combine CCDData frames: median, or sigma-clipped mean ("average")."""
    if method not in COMBINE_METHODS:
        raise ConfigError(f"[calibrate] combine_method {method!r}: use one of "
                          f"{', '.join(COMBINE_METHODS)}")
    clipped = method == "average"
    return ccdproc.combine(list(ccds), method=method, sigma_clip=clipped,
                           sigma_clip_low_thresh=clip_sigma, sigma_clip_high_thresh=clip_sigma,
                           sigma_clip_func=np.ma.median, sigma_clip_dev_func=mad_std,
                           dtype=np.float32)


def read_noise_from_biases(biases):
    """Read noise (ADU) from differences of consecutive bias frames: robust std / sqrt 2."""
    if len(biases) < 2:
        return None
    values = []
    for first, second in zip(biases, biases[1:]):
        difference = np.asarray(first.data, float) - np.asarray(second.data, float)
        _, _, std = sigma_clipped_stats(difference, sigma=5.0, maxiters=5)
        values.append(std / np.sqrt(2.0))
    return float(np.median(values))


def _master_header(kind, frames, method, extra):
    first = frames[0]
    header = fits.Header()
    for key in ("INSTRUME", "TELESCOP", "OBSERVAT"):
        if key in first.ccd.meta:
            header[key] = first.ccd.meta[key]
    header[MASTER_KEY] = (kind, "ccdphot master calibration frame")
    header["IMAGETYP"] = (kind, "[bias/dark/flat] image type")
    header["DATE-OBS"] = (min(f.std.get("DATE-OBS") or "" for f in frames),
                          "[UTC] start of the first input")
    header["XBINNING"], header["YBINNING"] = first.binning
    header["NCOMBINE"] = (len(frames), "number of frames combined")
    header["COMBMETH"] = (method, "combination method")
    for key, (value, comment) in extra.items():
        header[key] = (value, comment)
    for frame in frames:
        header.add_history(f"input: {frame.path.name}")
    return header


def _write_master(out_dir, name, data, header, inputs):
    path = Path(out_dir) / name
    if any(path.resolve() == frame.path.resolve() for frame in inputs):
        raise InputError(f"{path}: would overwrite an input frame; choose another --out")
    write_fits_atomic(path, np.asarray(data, dtype=np.float32), header)
    log.info("wrote %s", path)
    return path


def _flat_limits(frame, config, bias_level):
    """Raw-ADU limits of a usable flat: config, else the profile's FLATLOW/FLATHIGH, else
    1000 ADU above the bias level and 90 % of SATURATE."""
    calibration = frame.profile.calibration if frame.profile is not None else {}
    low = (config["flat_low_adu"] or calibration.get("flat_low_adu")
           or bias_level + DEFAULT_FLAT_LOW_ADU)
    high = config["flat_high_adu"] or calibration.get("flat_high_adu")
    if not high and frame.std.get("SATURATE"):
        high = DEFAULT_FLAT_HIGH_FRACTION * frame.std.get("SATURATE")
    return float(low), float(high) if high else np.inf


def _usable_flat(frame, config, bias_level):
    """True if the flat's raw level is inside FLATLOW/FLATHIGH (else a log line)."""
    low, high = _flat_limits(frame, config, bias_level)
    level = float(np.nanmedian(frame.ccd.data))
    if not low <= level <= high:
        log.warning("flat %s rejected: median %.1f ADU outside [%.0f, %.0f] ADU (FLATLOW/"
                    "FLATHIGH)", frame.path.name, level, low, high)
        return False
    return True


def _safe_name(text):
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", str(text)).strip("_") or "none"


def make_masters(bias_paths=(), dark_paths=(), flat_paths=(), out_dir=".", config=None,
                 profile_choice="", overrides=None):
    """Build master bias, darks (per exposure) and flats (per filter) into ``out_dir``.

    ``config`` is the ``[calibrate]`` table. Returns (written paths, figures).
    """
    method, sigma = config["combine_method"], config["clip_sigma"]
    biases = [read_raw(p, profile_choice, overrides) for p in bias_paths]
    darks = [read_raw(p, profile_choice, overrides) for p in dark_paths]
    flats = [read_raw(p, profile_choice, overrides) for p in flat_paths]
    everything = biases + darks + flats
    if not everything:
        raise ConfigError("no calibration frames given; use --bias, --dark and/or --flat")
    check_same_geometry(everything)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    binning = "x".join(str(b) for b in everything[0].binning)
    written, figures = [], {}
    bias = dark_by_exposure = None
    if biases:
        for frame in biases:
            _check_kind(frame, "bias")
        bias = combine([f.ccd for f in biases], method, sigma)
        level = float(np.median(bias.data))
        noise_adu = read_noise_from_biases([f.ccd for f in biases])
        gain = biases[0].std.get("GAIN")
        extra = {"BIASLEV": (round(level, 3), "[ADU] median level")}
        if noise_adu is not None:
            extra["RDN_ADU"] = (round(noise_adu, 4), "[ADU] read noise from bias differences")
            if gain:
                extra["RDN_E"] = (round(noise_adu * gain, 4), "[e-] measured read noise")
        written.append(_write_master(out_dir, f"master_bias_{binning}.fits", bias.data,
                                     _master_header("bias", biases, method, extra), everything))
        figures["bias"] = {"n_frames": len(biases), "level_adu": round(level, 3),
                           "read_noise_adu": None if noise_adu is None else round(noise_adu, 4),
                           "read_noise_e": (round(noise_adu * gain, 4)
                                            if noise_adu is not None and gain else None),
                           "gain_e_per_adu": gain}
    if darks:
        if bias is None:
            raise ConfigError("master darks are bias-subtracted: give the bias frames too "
                              "(--bias)")
        groups = {}
        for frame in darks:
            _check_kind(frame, "dark")
            groups.setdefault(round(_exposure(frame, "dark"), 3), []).append(frame)
        dark_by_exposure, figures["dark"] = {}, []
        for exptime, frames in sorted(groups.items()):
            master = combine([ccdproc.subtract_bias(f.ccd, bias) for f in frames], method,
                             sigma)
            master.meta["EXPTIME"] = exptime
            dark_by_exposure[exptime] = master
            rate = float(np.median(master.data)) / exptime if exptime else 0.0
            extra = {"EXPTIME": (exptime, "[s] exposure time"),
                     "BIASSUB": (True, "bias subtracted"),
                     "DARKRATE": (round(rate, 5), "[ADU/s] median dark current")}
            written.append(_write_master(out_dir, f"master_dark_{binning}_{exptime:g}s.fits",
                                         master.data, _master_header("dark", frames, method,
                                                                     extra), everything))
            figures["dark"].append({"exptime_s": exptime, "n_frames": len(frames),
                                    "dark_current_adu_per_s": round(rate, 5)})
    if flats:
        figures["flat"] = []
        groups = {}
        for frame in flats:
            _check_kind(frame, "flat")
            if frame.std.get("FILTER") is None:
                raise InputError(f"{frame.path.name}: flat without a FILTER; give --set "
                                 "FILTER=NAME")
            groups.setdefault(frame.std.get("FILTER"), []).append(frame)
        for filter_name, frames in sorted(groups.items()):
            bias_level = float(np.median(bias.data)) if bias is not None else 0.0
            usable = [f for f in frames if _usable_flat(f, config, bias_level)]
            if not usable:
                raise InputError(f"every flat of filter {filter_name} was rejected (saturated "
                                 "or empty, see the log); give flats inside FLATLOW/FLATHIGH")
            normalised = []
            for frame in usable:
                ccd = _remove_bias_and_dark(frame, bias, dark_by_exposure)
                normalised.append(ccd.divide(float(np.nanmedian(ccd.data))))
            master = combine(normalised, method, sigma)
            master = master.divide(float(np.nanmedian(master.data)))
            extra = {"FILTER": (filter_name, "standard filter name"),
                     "NREJECT": (len(frames) - len(usable), "flats rejected (FLATLOW/HIGH)"),
                     "BIASSUB": (bias is not None, "bias subtracted"),
                     "DARKSUB": (bool(dark_by_exposure), "dark subtracted (scaled)")}
            name = f"master_flat_{binning}_{_safe_name(filter_name)}.fits"
            written.append(_write_master(out_dir, name, master.data,
                                         _master_header("flat", usable, method, extra),
                                         everything))
            figures["flat"].append({"filter": filter_name, "n_frames": len(usable),
                                    "n_rejected": len(frames) - len(usable)})
    return written, figures


def _remove_bias_and_dark(frame, bias, dark_by_exposure):
    ccd = frame.ccd if bias is None else ccdproc.subtract_bias(frame.ccd, bias)
    if dark_by_exposure:
        exptime = _exposure(frame, "flat")
        nearest = min(dark_by_exposure, key=lambda t: abs(t - exptime))
        ccd = ccdproc.subtract_dark(ccd, dark_by_exposure[nearest], dark_exposure=nearest * u.s,
                                    data_exposure=exptime * u.s, scale=True)
    return ccd


# --- applying masters ------------------------------------------------------------


