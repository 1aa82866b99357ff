"""``header`` step: standardise the frame's keywords (see :mod:`ccdphot.standard_header`).

The telescope profile comes from ``--profile`` (run option ``profile``), the
config's ``[header] profile``, or the first shipped profile whose ``[match]``
values the header has. ``--set KEY=VALUE`` values (run option
``header_values``) win over everything. A keyword a later step of this run
needs but that cannot be resolved fails this step when the user asked for that
step by name (before any work is done), and is a warning when the step is part
of the configured sequence (that step then skips itself with the same
message); any other unresolved one is recorded as unknown with a warning. The standardised header replaces the
working copy's header (the input file is never touched).
"""

import logging

from astropy.io import fits

from ccdphot.errors import InputError
from ccdphot.header.profiles import frame_profile
from ccdphot.header.standard import (
    UNKNOWN,
    apply_standard,
    missing_keywords,
    standardise,
)
from ccdphot.products import write_fits_atomic

log = logging.getLogger(__name__)

# Keywords each step cannot do without. The calibrate step needs them only
# when masters are configured (it does nothing otherwise).
NEEDED_BY_STEP = {"calibrate": ("EXPTIME", "FILTER"), "zeropoint": ("FILTER",)}
# Steps that skip themselves (with a warning) when a keyword they need is unknown,
# unless the user asked for them by name.
SKIPS_ITSELF = ("zeropoint",)
_CALIBRATION_KEYS = ("master_bias", "master_dark", "master_flat", "masters_dir")


def needed_keywords(planned_steps, config):
    """{keyword: step that needs it} for the steps this run will execute."""
    needed = {}
    for step in planned_steps:
        if step == "calibrate" and not any(config["calibrate"][k] for k in _CALIBRATION_KEYS):
            continue
        for key in NEEDED_BY_STEP.get(step, ()):
            needed.setdefault(key, step)
    return needed


def _missing_message(ctx, key, step, needed):
    """One line naming the keyword, the step and how to supply the value."""
    what = (f"is needed by the {step} step but the header has none the profile understands"
            if needed else f"is unknown, so the {step} step will be skipped")
    return (f"{ctx.input_path.name}: keyword {key} {what}; add it to the telescope profile "
            f"([values] {key} = ...) or give --set {key}=VALUE")


def run(ctx):
    choice = ctx.options.get("profile") or ctx.config["header"]["profile"]
    profile = frame_profile(ctx.header, choice)
    log.info("telescope profile: %s", profile.name if profile else
             "none (generic keyword names)")
    std = standardise(ctx.header, profile, ctx.options.get("header_values"),
                      file_name=ctx.input_path.name)
    # Fail here, before any work, for a step that cannot go on without the keyword;
    # a zero point of the configured sequence skips itself after the photometry.
    must_run = [step for step in ctx.planned_steps
                if step in ctx.requested_steps or step not in SKIPS_ITSELF]
    needed = needed_keywords(must_run, ctx.config)
    for key in missing_keywords(std, needed):
        raise InputError(_missing_message(ctx, key, needed[key], needed=True))
    optional = needed_keywords(ctx.planned_steps, ctx.config)
    for key in missing_keywords(std, optional):
        log.warning("%s", _missing_message(ctx, key, optional[key], needed=False))
    unknown = [k for k, source in std.sources.items() if source == UNKNOWN]
    if unknown:
        log.warning("header keywords unknown (not needed by this run): %s", ", ".join(unknown))
    for warning in std.warnings:
        log.warning("%s", warning)
    ctx.header = apply_standard(ctx.header, std)
    data = fits.getdata(ctx.image_path)
    write_fits_atomic(ctx.image_path, data, ctx.header)
    ctx.details["header"] = std.record()
    value = std.get
    ctx.qc.update({
        "object": value("OBJECT"), "imagetyp": value("IMAGETYP"), "filter": value("FILTER"),
        "exptime_s": value("EXPTIME"), "date_obs_utc": value("DATE-OBS"),
        "jd_utc_mid": value("JD"), "bjd_tdb_mid": value("BJD_TDB"),
        "airmass": value("AIRMASS"), "gain_e_per_adu": value("GAIN"),
        "rdnoise_e": value("RDNOISE"), "saturate_adu": value("SATURATE"),
        "pixel_scale_arcsec": value("PIXSCALE"),
    })
    return {"profile": std.profile or None, "filter": value("FILTER"),
            "exptime_s": value("EXPTIME"), "jd_utc_mid": value("JD"),
            "bjd_tdb_mid": value("BJD_TDB"), "airmass": value("AIRMASS"),
            "n_unknown": len(unknown)}
