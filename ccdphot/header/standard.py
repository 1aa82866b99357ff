"""Standardise a frame header: the same keywords, units and meanings for every telescope.

:func:`standardise` reads an astropy Header with an optional telescope
profile and ``--set`` values, and returns a :class:`StandardHeader`: each
standard keyword's value in its standard unit and where it came from
(``--set``, ``header KEY``, ``profile NAME``, ``computed ...``, ``assumed ...``)
or ``unknown``. :func:`apply_standard` writes the values into a header copy,
keeping any header value it replaces under ``<KEY[:4]>_HDR``.

Standard keywords and units: OBJECT; IMAGETYP (bias/dark/flat/object);
FILTER (standard name); DATE-OBS (UTC start, ISO); EXPTIME (s); GAIN (e-/ADU);
RDNOISE (e-); SATURATE (ADU); RA, DEC (deg, ICRS/J2000); JD, MJD (UTC, mid
exposure); HJD (UTC, mid); BJD_TDB (mid); AIRMASS (sec z at mid exposure);
PIXSCALE (arcsec/pix); XBINNING, YBINNING; SITELAT, SITELONG (deg, East
positive), SITEELEV (m).
"""

import logging
from dataclasses import dataclass, field

import numpy as np
from astropy import units as u
from astropy.coordinates import Angle, SkyCoord
from astropy.table import Table
from astropy.time import Time
from astropy.wcs.utils import proj_plane_pixel_scales

from ccdphot.errors import InputError
from ccdphot.fitsio import celestial_wcs
from ccdphot.header.times import airmass, exposure_times, mid_exposure, site_location
from ccdphot.header.values import (
    angle_deg,
    as_float,
    image_type_from_file_name,
    is_blank,
    parse_date_obs,
    standard_filter,
    standard_image_type,
)

log = logging.getLogger(__name__)

STANDARD_KEYS = ("OBJECT", "IMAGETYP", "FILTER", "DATE-OBS", "EXPTIME", "GAIN", "RDNOISE",
                 "SATURATE", "RA", "DEC", "JD", "MJD", "HJD", "BJD_TDB", "AIRMASS",
                 "PIXSCALE", "XBINNING", "YBINNING", "SITELAT", "SITELONG", "SITEELEV")
UNITS = {"EXPTIME": "s", "GAIN": "e-/ADU", "RDNOISE": "e-", "SATURATE": "ADU", "RA": "deg",
         "DEC": "deg", "JD": "d (UTC)", "MJD": "d (UTC)", "HJD": "d (UTC)",
         "BJD_TDB": "d (TDB)", "PIXSCALE": "arcsec/pix", "SITELAT": "deg",
         "SITELONG": "deg E", "SITEELEV": "m"}
COMMENTS = {
    "OBJECT": "object name", "IMAGETYP": "[bias/dark/flat/object] image type",
    "FILTER": "standard filter name", "DATE-OBS": "[UTC] start of exposure",
    "EXPTIME": "[s] exposure time", "GAIN": "[e-/ADU] gain", "RDNOISE": "[e-] read noise",
    "SATURATE": "[ADU] saturation level", "RA": "[deg] target right ascension",
    "DEC": "[deg] target declination", "JD": "[d] Julian date (UTC), mid exposure",
    "MJD": "[d] modified Julian date (UTC), mid exposure",
    "HJD": "[d] heliocentric Julian date (UTC), mid exp.",
    "BJD_TDB": "[d] barycentric Julian date (TDB), mid exp.",
    "AIRMASS": "sec(z) at mid exposure", "PIXSCALE": "[arcsec/pix] pixel scale",
    "XBINNING": "binning along x", "YBINNING": "binning along y",
    "SITELAT": "[deg] site latitude", "SITELONG": "[deg] site longitude, East positive",
    "SITEELEV": "[m] site altitude",
}

# Keywords tried, in order, when the profile does not say where a value is.
ALIASES = {
    "OBJECT": ("OBJECT", "OBJNAME", "TARGET", "FIELD"),
    "IMAGETYP": ("IMAGETYP", "OBSTYPE", "FRAMETYP", "DATA-TYP"),
    "FILTER": ("FILTER", "FILTERS", "FILTER1", "FILT", "INSFILTE", "FILTNAME"),
    "DATE-OBS": ("DATE-OBS", "DATE_OBS", "UT-OBS"),
    "TIME-OBS": ("TIME-OBS", "UT", "UTSTART", "UT-START", "TIME_OBS"),
    "EXPTIME": ("EXPTIME", "EXPOSURE", "EXP_TIME", "EXPTIM", "ITIME"),
    "GAIN": ("GAIN", "EGAIN", "E-GAIN", "CCDGAIN"),
    "RDNOISE": ("RDNOISE", "READNOIS", "RON", "CCDRON"),
    "SATURATE": ("SATURATE", "SATLEVEL", "SATURATN", "DATAMAX"),
    "RA": ("RA", "OBJCTRA", "RA-MNT", "TELRA", "RA_CENT"),
    "DEC": ("DEC", "OBJCTDEC", "DEC-MNT", "TELDEC", "DEC_CENT"),
    "AIRMASS": ("AIRMASS", "SECZ"),
    "PIXSCALE": ("PIXSCALE", "SECPIX", "CCDSCALE", "IM_SCALE", "PIXSCAL1"),
    "XBINNING": ("XBINNING", "CCDXBIN", "BINX", "XBIN", "BIN"),
    "YBINNING": ("YBINNING", "CCDYBIN", "BINY", "YBIN", "BIN"),
    "TIMESYS": ("TIMESYS",),
    "JD": ("JD", "JD-OBS"),
}
# Site keyword groups: (latitude, longitude, altitude, longitude positive East?).
# LONGITUD is positive West in the CCDPhot convention (and MicroObservatory's).
SITE_GROUPS = (("SITELAT", "SITELONG", "SITEELEV", True),
               ("LAT-OBS", "LONG-OBS", "ELEV-OBS", True),
               ("OBSLAT", "OBSLONG", "OBSALT", True),
               ("LATITUDE", "LONGITUD", "ALTITUDE", False))

UNKNOWN = "unknown"


@dataclass
class StandardHeader:
    """Standardised values, their sources, and warnings, for one header."""

    values: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    profile: str = ""

    def set(self, key, value, source):
        self.values[key] = value
        self.sources[key] = source

    def get(self, key):
        return self.values.get(key)

    def record(self):
        """JSON-serialisable record (for run.json details)."""
        return {"profile": self.profile or None,
                "values": {k: {"value": self.values.get(k), "source": self.sources.get(k,
                               UNKNOWN), "unit": UNITS.get(k)} for k in STANDARD_KEYS},
                "warnings": list(self.warnings)}


class _Reader:
    """Finds raw values: --set, then the profile's keyword, then the aliases, then the
    profile's values and camera mode."""

    def __init__(self, header, profile, overrides):
        self.header = header
        self.profile = profile
        self.overrides = {k.upper(): v for k, v in (overrides or {}).items()}
        # written by ccdphot (a working copy, a stack): standard names and units
        self.standardised = header.get("CCDPSTD") is True
        self.mode_note = ""
        self.mode = {}
        if profile is not None:
            index, self.mode, note = profile.mode_for(header)
            self.mode_label = (f"profile {profile.name}"
                               + (f" (mode {index + 1})" if index is not None
                                  and len(profile.modes) > 1 else ""))
            self.mode_note = note
        else:
            self.mode_label = ""

    def header_keys(self, key):
        if self.standardised and key in STANDARD_KEYS:
            return (key,)
        profile = self.profile
        if profile is not None and key in profile.keywords:
            return (profile.keywords[key],)
        if profile is not None and profile.defines(key):
            return ()  # the profile gives the value: a same-named header keyword means else
        return ALIASES.get(key, (key,))

    def from_header(self, key):
        """(raw value, 'header KEY') from the header, or (None, None)."""
        for name in self.header_keys(key):
            if name in self.header and not is_blank(self.header[name]):
                return self.header[name], f"header {name}"
        return None, None

    def from_profile(self, key):
        if self.profile is None:
            return None, None
        if key in self.mode:
            return self.mode[key], self.mode_label
        if key in self.profile.values:
            return self.profile.values[key], f"profile {self.profile.name}"
        return None, None

    def raw(self, key):
        """(raw value, source) by priority: --set, header, profile; (None, None)."""
        if key in self.overrides:
            return self.overrides[key], "--set"
        value, source = self.from_header(key)
        if source is None:
            value, source = self.from_profile(key)
        return value, source


def _site(reader, std):
    """Observatory site: profile [site] first (explicit), then header keyword groups."""
    keys = ("SITELAT", "SITELONG", "SITEELEV")
    if all(k in reader.overrides for k in keys[:2]):
        for key in keys:
            if key in reader.overrides:
                std.set(key, as_float(reader.overrides[key], key, "--set"), "--set")
        std.values.setdefault("SITEELEV", 0.0)
        std.sources.setdefault("SITEELEV", "assumed 0 m")
        return
    site = reader.profile.site if reader.profile is not None else {}
    if "latitude_deg" in site and "longitude_east_deg" in site:
        label = f"profile {reader.profile.name}"
        std.set("SITELAT", float(site["latitude_deg"]), label)
        std.set("SITELONG", float(site["longitude_east_deg"]), label)
        std.set("SITEELEV", float(site.get("altitude_m", 0.0)), label)
        return
    for lat_key, lon_key, alt_key, east in SITE_GROUPS:
        lat, lon = reader.header.get(lat_key), reader.header.get(lon_key)
        if is_blank(lat) or is_blank(lon):
            continue
        try:
            latitude = float(Angle(lat, unit=u.deg).deg)
            longitude = float(Angle(lon, unit=u.deg).wrap_at(180 * u.deg).deg)
        except (ValueError, u.UnitsError) as err:
            std.warnings.append(f"site keywords {lat_key}/{lon_key} unreadable ({err})")
            continue
        convention = "" if east else " (positive West, converted)"
        std.set("SITELAT", latitude, f"header {lat_key}")
        std.set("SITELONG", longitude if east else -longitude,
                f"header {lon_key}{convention}")
        altitude = reader.header.get(alt_key)
        if is_blank(altitude):
            std.set("SITEELEV", 0.0, "assumed 0 m")
        else:
            std.set("SITEELEV", as_float(altitude, alt_key, "header"), f"header {alt_key}")
        return


def _image_type(reader, std, file_name):
    raw, source = reader.raw("IMAGETYP")
    by_name = image_type_from_file_name(file_name) if file_name else None
    if raw is None:
        if by_name:
            std.set("IMAGETYP", by_name, "file name")
        else:
            std.set("IMAGETYP", "object", "assumed (no image-type keyword)")
        return
    kind = standard_image_type(raw, reader.profile)
    if kind is None:
        raise InputError(f"{source}: IMAGETYP={raw!r} is not a known image type; map it in "
                         "the telescope profile [imagetyp] or give --set IMAGETYP="
                         "bias|dark|flat|object")
    if kind == "object" and by_name and by_name != "object" and source != "--set":
        std.set("IMAGETYP", by_name, f"file name ({source} says {str(raw).strip()!r})")
        std.warnings.append(f"IMAGETYP taken from the file name: {by_name} ({source} says "
                            f"{str(raw).strip()!r}); give --set IMAGETYP=object if wrong")
    else:
        std.set("IMAGETYP", kind, source)


def _pixel_scale(reader, std, wcs):
    raw, source = reader.raw("PIXSCALE")
    if source == "--set" or (source and source.startswith("header")):
        std.set("PIXSCALE", as_float(raw, "PIXSCALE", source), source)
        return
    if wcs is not None:
        scale = float(np.mean(proj_plane_pixel_scales(wcs.celestial)) * 3600.0)
        std.set("PIXSCALE", round(scale, 5), "computed from the header WCS")
        return
    if source:
        std.set("PIXSCALE", as_float(raw, "PIXSCALE", source), source)
        return
    cdelt, cdelt_source = reader.from_profile("CDELT1")
    if cdelt is not None:
        std.set("PIXSCALE", abs(float(cdelt)) * 3600.0, f"{cdelt_source} CDELT1")


def _coordinates(reader, std, wcs, shape):
    units = reader.profile.units if reader.profile is not None else {}
    ra, ra_source = reader.raw("RA")
    dec, dec_source = reader.raw("DEC")
    if ra is not None and dec is not None:
        std.set("RA", angle_deg(ra, "RA", units.get("RA"), ra_source), ra_source)
        std.set("DEC", angle_deg(dec, "DEC", None, dec_source), dec_source)
    elif wcs is not None and shape is not None:
        centre = wcs.celestial.pixel_to_world((shape[1] - 1) / 2.0, (shape[0] - 1) / 2.0)
        centre = centre.icrs
        std.set("RA", float(centre.ra.deg), "computed from the header WCS (image centre)")
        std.set("DEC", float(centre.dec.deg), "computed from the header WCS (image centre)")


def _times(reader, std):
    raw, source = reader.raw("DATE-OBS")
    timesys, _ = reader.raw("TIMESYS")
    scale = str(timesys).strip().lower() if timesys else "utc"
    if scale not in Time.SCALES:
        raise InputError(f"TIMESYS={timesys!r} is not a time scale astropy knows "
                         f"({', '.join(Time.SCALES)}); give --set TIMESYS=UTC")
    if raw is None:
        return None
    time_value, _ = reader.raw("TIME-OBS")
    start, note = parse_date_obs(raw, time_value, scale, source)
    std.set("DATE-OBS", start.isot, source + note)
    average, average_source = reader.from_header("DATE-AVG")
    if average is not None:  # a stack: its mid time is not DATE-OBS + EXPTIME / 2
        return parse_date_obs(average, None, scale, average_source)[0]
    exptime = std.get("EXPTIME")
    if exptime is None:
        std.warnings.append("no EXPTIME: JD/HJD/BJD_TDB are not computed (mid exposure "
                            "unknown)")
        return None
    return mid_exposure(start, exptime)


def standardise(header, profile=None, overrides=None, file_name=None):
    """Standardise ``header`` (astropy Header) with a telescope ``profile``.

    ``overrides`` maps standard keywords to values given by the user
    (``--set``), which win over everything. Returns a :class:`StandardHeader`;
    raises :class:`InputError` for a value that is present but unusable
    (unparseable DATE-OBS, unknown IMAGETYP, a non-numeric EXPTIME...), its
    message starting with ``file_name``.
    """
    try:
        return _standardise(header, profile, overrides, file_name)
    except InputError as err:
        if not file_name:
            raise
        raise InputError(f"{file_name}: {err}") from err


def _standardise(header, profile, overrides, file_name):
    reader = _Reader(header, profile, overrides)
    std = StandardHeader(profile=profile.name if profile is not None else "")
    if reader.mode_note:
        std.warnings.append(f"profile {profile.name}: {reader.mode_note}")
    raw, source = reader.raw("OBJECT")
    if raw is not None:
        std.set("OBJECT", str(raw).strip(), source)
    _image_type(reader, std, file_name)
    raw, source = reader.raw("FILTER")
    if raw is not None:
        name, known = standard_filter(raw, profile)
        std.set("FILTER", name, source if known else f"{source} (not a standard name)")
        if not known:
            std.warnings.append(f"filter {name!r} is not a standard name; map it in the "
                                "profile [filters] or give --set FILTER=NAME")
    for key in ("EXPTIME", "GAIN", "SATURATE", "XBINNING", "YBINNING"):
        raw, source = reader.raw(key)
        if raw is not None:
            value = as_float(raw, key, source)
            if value < 0 or (key != "EXPTIME" and value == 0):
                raise InputError(f"{source}: {key}={raw!r} must be positive; give "
                                 f"--set {key}=VALUE")
            std.set(key, int(value) if key.endswith("BINNING") else value, source)
    raw, source = reader.raw("RDNOISE")
    if raw is not None:
        value = as_float(raw, "RDNOISE", source)
        in_adu = source != "--set" and not reader.standardised and profile is not None \
            and profile.units.get("RDNOISE") == "adu"
        if not in_adu:
            std.set("RDNOISE", value, source)
        elif std.get("GAIN") is not None:
            std.set("RDNOISE", value * std.get("GAIN"),
                    f"{source} ({value} ADU x GAIN)")
        else:
            std.warnings.append(f"RDNOISE from {source} is in ADU and the GAIN is unknown: "
                                "read noise left unknown")
    for key in ("XBINNING", "YBINNING"):
        if std.get(key) is None:
            std.set(key, 1, "assumed (no binning keyword)")
    wcs = celestial_wcs(header)
    shape = (header.get("NAXIS2"), header.get("NAXIS1"))
    _pixel_scale(reader, std, wcs)
    _coordinates(reader, std, wcs, shape if None not in shape else None)
    _site(reader, std)
    mid = _times(reader, std)
    _derived_times(reader, std, mid)
    for key in STANDARD_KEYS:
        std.sources.setdefault(key, UNKNOWN)
    return std


def _derived_times(reader, std, mid):
    """JD, MJD, HJD, BJD_TDB and AIRMASS at mid exposure."""
    target = location = None
    if std.get("RA") is not None and std.get("DEC") is not None:
        target = SkyCoord(std.get("RA") * u.deg, std.get("DEC") * u.deg, frame="icrs")
    if std.get("SITELAT") is not None:
        location = site_location(std.get("SITELONG"), std.get("SITELAT"),
                                 std.get("SITEELEV") or 0.0)
    if mid is None:
        raw, source = reader.raw("JD")
        if raw is not None:
            mid = Time(as_float(raw, "JD", source), format="jd", scale="utc")
            std.warnings.append(f"times from {source}, taken as mid exposure")
    if mid is not None:
        where = "site" if location is not None else "geocentre: site unknown"
        for key, value in exposure_times(mid, target, location).items():
            basis = "mid exposure" if key in ("JD", "MJD") else f"mid exposure, RA/DEC, {where}"
            std.set(key, value, f"computed ({basis})")
    raw, source = reader.raw("AIRMASS")
    if mid is not None and target is not None and location is not None:
        value = airmass(mid, target, location)
        if value is not None:
            std.set("AIRMASS", round(value, 5), "computed (site, mid exposure, RA/DEC)")
            return
    if raw is not None:
        std.set("AIRMASS", as_float(raw, "AIRMASS", source), source)


def missing_keywords(std, needed):
    """The keywords of ``needed`` that ``std`` could not resolve."""
    return [key for key in needed if std.get(key) is None]


def original_key(key):
    """Where a replaced header value is kept: AIRMASS -> AIRM_HDR, DATE-OBS -> DATE_HDR."""
    return f"{key[:4].rstrip('-_')}_HDR"


def apply_standard(header, std):
    """A copy of ``header`` with the standard keywords written in.

    A header value that differs from the standard one is kept under
    :func:`original_key`, so nothing the observatory wrote is lost.
    """
    header = header.copy()
    for key in STANDARD_KEYS:
        value = std.get(key)
        if value is None:
            continue
        if isinstance(value, float):
            value = float(f"{value:.10g}") if key not in ("JD", "MJD", "HJD", "BJD_TDB") \
                else round(value, 8)
        if key in header and header[key] != value:
            header[original_key(key)] = (header[key], f"original {key} before ccdphot")
        header[key] = (value, COMMENTS[key])
    header["CCDPSTD"] = (True, "header standardised by ccdphot")
    return header


def _cell(key, value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}" if key in ("JD", "MJD", "HJD", "BJD_TDB") else f"{value:.6g}"
    return str(value)


def standard_table(rows, with_sources=False):
    """One row per (file name, StandardHeader): the standard values as text.

    With ``with_sources`` every keyword gets a ``<KEY>_src`` column saying
    where its value came from. Units are in ``meta``.
    """
    columns = ["FILE"]
    for key in STANDARD_KEYS:
        columns += [key, f"{key}_src"] if with_sources else [key]
    data = {name: [] for name in columns}
    for file_name, std in rows:
        data["FILE"].append(str(file_name))
        for key in STANDARD_KEYS:
            data[key].append(_cell(key, std.get(key)))
            if with_sources:
                data[f"{key}_src"].append(std.sources.get(key, UNKNOWN))
    table = Table([data[name] for name in columns], names=columns, dtype=[str] * len(columns))
    table.meta["units"] = dict(UNITS)
    return table


