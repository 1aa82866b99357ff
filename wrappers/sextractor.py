"""SExtractor (``source-extractor``): detection list, MAG_AUTO, FWHM, background.

One :class:`Job` serves ccdphot's own setup and an observer's: a ``.sex``
file (``default_params/sextractor/ccdphot.sex`` or the user's
``[detect] sextractor_config``) with the parameter, filter and neural-network
files it names, found beside it as SExtractor itself would find them when run
in the ``.sex`` file's directory. *Build* copies those files into the work
directory, appends to the ``.param`` list the columns ccdphot measures with
(:data:`OWN_PARAMS`, those it lacks) and renders the ``.sex`` with only what
ccdphot needs set: the FITS_LDAC catalogue name and type, the copied file
names, and the ``settings`` the caller gives (for ccdphot's own setup, the
``[detect]`` values and the frame's gain, saturation and pixel scale, see
:func:`ccdphot_settings`). *Parse* reads the catalogue into an astropy Table
with units and SExtractor's own background and threshold figures in ``meta``.
"""

import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.stats import sigma_clipped_stats
from astropy.table import Table
from ccdphot.wrappers.base import (
    CatalogResult,
    ToolJob,
    format_astromatic_value,
    param_file,
    render_astromatic_config,
)

from ccdphot.errors import ConfigError, OutputParseError

log = logging.getLogger(__name__)

TOOL = "sextractor"
CATALOG_NAME = "detections.ldac"
CONFIG_NAME = "ccdphot.sex"
PARAMS_NAME = "ccdphot.param"
SHIPPED_CONFIG = param_file(TOOL, CONFIG_NAME)
# The output columns ccdphot measures with (detection list, seeing, astrometry, PSF stars).
OWN_PARAMS = param_file(TOOL, PARAMS_NAME)
UNDEFINED_MAG = 99.0  # SExtractor's magnitude of a source without a positive flux

# Input files a .sex file names: SExtractor's name when the key is absent, and
# the name of the copy in the work directory when the original's is not plain.
_INPUT_FILES = {"PARAMETERS_NAME": ("default.param", "user.param"),
                "FILTER_NAME": ("default.conv", "filter.conv"),
                "STARNNW_NAME": ("default.nnw", "starnnw.nnw")}
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")

# Figures SExtractor writes into the LDAC image header, as meta keys with units.
_IMHEAD_FIGURES = {
    "SEXBKGND": ("background_adu", "median background level"),
    "SEXBKDEV": ("background_rms_adu", "median background RMS"),
    "SEXTHLD": ("detect_threshold_adu", "extraction threshold"),
    "SEXNDET": ("n_raw_detections", "raw detections"),
    "SEXGAIN": ("gain_e_per_adu", "gain used"),
    "SEXSATLV": ("saturation_adu", "saturation level used"),
    "SEXMGZPT": ("zero_point_mag", "magnitude zero point used"),
}


@dataclass(frozen=True, kw_only=True)
class Job(ToolJob):
    """SExtractor on ``image_name`` (a plain file name in the work directory).

    ``config_file`` is the ``.sex`` file to honour (ccdphot's own by default);
    ``settings`` (KEY -> value) are applied over it.
    """

    image_name: str
    config_file: Optional[Path] = None
    settings: Mapping = field(default_factory=dict)
    outputs = (CATALOG_NAME,)

    def build(self):
        config = _SexFile.read(Path(self.config_file or SHIPPED_CONFIG), self.settings)
        own = parameter_names(OWN_PARAMS.read_text())
        merged = merged_parameters(parameter_text(config.input("PARAMETERS_NAME")), own)
        self.path(PARAMS_NAME).write_text(merged)
        copies = {"PARAMETERS_NAME": PARAMS_NAME}
        if config.values.get("FILTER", "Y").upper().startswith("Y"):
            copies["FILTER_NAME"] = self._copy(config.input("FILTER_NAME"), "FILTER_NAME")
        if "CLASS_STAR" in parameter_names(merged):
            copies["STARNNW_NAME"] = self._copy(config.input("STARNNW_NAME"), "STARNNW_NAME")
        render_astromatic_config(config.path, {**self.settings, **copies,
                                               "CATALOG_NAME": CATALOG_NAME,
                                               "CATALOG_TYPE": "FITS_LDAC"},
                                 self.path(CONFIG_NAME))
        return [self.image_name, "-c", CONFIG_NAME]

    def _copy(self, source, key):
        """Copy an input file into the work directory; returns the copy's name."""
        name = source.name if _PLAIN_NAME.match(source.name) else _INPUT_FILES[key][1]
        shutil.copyfile(source, self.path(name))
        return name

    def parse(self, run):
        table = read_catalog(self.path(CATALOG_NAME))
        table.meta["tool"] = {"name": self.tool.label, "version": self.tool.version,
                              "argv": list(run.argv)}
        settings = {key: value for key, (value, _) in read_config(self.path(CONFIG_NAME)).items()}
        figures = {name: table.meta[name] for name, _ in _IMHEAD_FIGURES.values()
                   if name in table.meta}
        figures["aperture_diameters_pix"] = [
            float(v) for v in settings.get("PHOT_APERTURES", "5").replace(",", " ").split()]
        return CatalogResult(figures=figures, run=run, table=table)


@dataclass(frozen=True)
class _SexFile:
    """A .sex file with ``settings`` applied: values and where each came from."""

    path: Path
    values: dict
    origins: dict

    @classmethod
    def read(cls, path, settings):
        given = read_config(path)
        values = {key: value for key, (value, _) in given.items()}
        origins = {key: f"{path.name} line {number}" for key, (_, number) in given.items()}
        for key, value in settings.items():
            values[key.upper()] = format_astromatic_value(value)
            origins[key.upper()] = "ccdphot's [detect] configuration"
        return cls(path, values, origins)

    def input(self, key):
        """The file ``key`` names, relative to the .sex file; ConfigError when missing."""
        value = self.values.get(key, _INPUT_FILES[key][0])
        path = Path(value).expanduser()
        path = path if path.is_absolute() else self.path.parent / path
        if path.is_file():
            return path
        origin = self.origins.get(key, f"{self.path.name} (no {key} line: SExtractor's default)")
        raise ConfigError(f"{origin}: {key} {value}: no such file {path}; put the file "
                          f"beside {self.path.name} or correct the name")


def read_config(path):
    """An AstrOmatic configuration file as {KEY: (value text, line number)} (pure)."""
    path = Path(path)
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the SExtractor configuration "
                          f"({err.strerror or err})") from err
    settings = {}
    for number, line in enumerate(lines, start=1):
        fields = line.split("#", 1)[0].split(None, 1)
        if fields:
            settings[fields[0].upper()] = (fields[1].strip() if len(fields) > 1 else "", number)
    return settings


def parameter_text(path):
    """The text of a ``.param`` file (a ConfigError naming it when unreadable)."""
    try:
        return Path(path).read_text(errors="replace")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the SExtractor parameter list "
                          f"({err.strerror or err})") from err


def parameter_names(text):
    """Output column names of a ``.param`` text, without vector sizes (``MAG_APER(3)``)."""
    names = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if fields:
            names.append(fields[0].split("(", 1)[0].upper())
    return names


def merged_parameters(text, own_names):
    """The ``.param`` ``text`` as given, then the ``own_names`` it does not list."""
    missing = [name for name in own_names if name not in set(parameter_names(text))]
    if not missing:
        return text
    return (text.rstrip("\n") + "\n# added by ccdphot: the columns it measures with\n"
            + "\n".join(missing) + "\n")


def _filter_source(name):
    """The detection filter: a file shipped in default_params/sextractor or a path."""
    shipped = param_file(TOOL, name)
    if shipped.is_file():
        return shipped
    path = Path(name).expanduser()
    if path.is_file():
        return path.resolve()
    raise ConfigError(f"[detect] filter_name = {name!r} is neither shipped with ccdphot nor an "
                      "existing file; give a .conv file")


def ccdphot_settings(detect, zero_point_mag, gain_e_per_adu=None, saturate_adu=None,
                     pixel_scale_arcsec=None, weight_image=None):
    """SExtractor keys for ccdphot's own setup, from the ``[detect]`` table.

    Frame values (gain, saturation level, pixel scale) are passed per call,
    never kept between frames. ``weight_image`` names a weight map in the work
    directory (0 = bad pixel), e.g. the calibrate step's ``weight.fits``.
    ``[detect.sextractor]`` overrides come last.
    """
    settings = {
        "FILTER_NAME": str(_filter_source(detect["filter_name"])),
        "DETECT_THRESH": detect["detect_thresh_sigma"],
        "ANALYSIS_THRESH": detect["detect_thresh_sigma"],
        "DETECT_MINAREA": detect["detect_minarea_pix"],
        "PHOT_APERTURES": list(detect["aperture_diameters_pix"]),
        "BACK_SIZE": detect["back_size_pix"],
        "BACK_FILTERSIZE": detect["back_filtersize"],
        "MAG_ZEROPOINT": zero_point_mag,
        "GAIN": gain_e_per_adu or 0.0,
        "PIXEL_SCALE": pixel_scale_arcsec or 0.0,
    }
    if saturate_adu:
        settings["SATUR_LEVEL"] = saturate_adu
    if weight_image:
        settings.update(WEIGHT_IMAGE=weight_image, WEIGHT_TYPE="MAP_WEIGHT")
    settings.update(detect.get("sextractor", {}))
    return settings


def _imhead(hdul):
    cards = hdul["LDAC_IMHEAD"].data[0][0]
    text = cards if isinstance(cards, str) else "".join(str(c).ljust(80) for c in cards)
    return fits.Header.fromstring(text)


def read_catalog(path):
    """Read a SExtractor FITS_LDAC catalogue into a Table (pure parsing).

    Units come from the catalogue's TUNIT cards; the image-header figures
    (background level and RMS, threshold, gain and saturation used) go into
    ``meta`` under unit-carrying names.
    """
    path = Path(path)
    try:
        with fits.open(path) as hdul:
            table = Table(hdul["LDAC_OBJECTS"].data, masked=False)
            for col, hdu_col in zip(table.colnames, hdul["LDAC_OBJECTS"].columns):
                if hdu_col.unit:
                    table[col].unit = u.Unit(hdu_col.unit, parse_strict="silent")
            header = _imhead(hdul)
    except (OSError, KeyError, IndexError, ValueError) as err:
        raise OutputParseError(f"{path.name}: not a readable SExtractor FITS_LDAC catalogue "
                               f"({err})") from err
    for key, (name, _) in _IMHEAD_FIGURES.items():
        if key in header:
            table.meta[name] = header[key]
    return table


def on_zero_point(table, zero_point_mag):
    """``table`` with its magnitudes moved to ``zero_point_mag`` (a copy when they move).

    A user's configuration may measure with another MAG_ZEROPOINT (recorded in
    ``meta["zero_point_mag"]``); every MAG_* column (not the errors) is moved by
    the difference, except SExtractor's undefined 99.0.
    """
    offset = zero_point_mag - float(table.meta.get("zero_point_mag", zero_point_mag))
    if offset == 0:
        return table
    table = table.copy()
    for name in table.colnames:
        if name.startswith("MAG_"):
            values = np.asarray(table[name], float)
            table[name] = np.where(values < UNDEFINED_MAG - 1, values + offset, values)
            table[name].unit = u.mag
    table.meta["zero_point_mag"] = zero_point_mag
    log.info("SExtractor magnitudes moved by %+.4f mag onto the zero point %.4f mag",
             offset, zero_point_mag)
    return table


def seeing(table, min_snr=20.0, max_elongation=1.5):
    """Robust seeing of a frame from a SExtractor table.

    Point sources are taken as unflagged (FLAGS == 0), round (ELONGATION below
    ``max_elongation``) detections with S/N above ``min_snr`` and a positive
    FWHM; the seeing is their 3-sigma-clipped median FWHM_IMAGE. Returns
    (fwhm in pixels as a Quantity, number of stars used); (nan pix, 0) when no
    star qualifies.
    """
    flux = np.asarray(table["FLUX_AUTO"], dtype=float)
    flux_err = np.asarray(table["FLUXERR_AUTO"], dtype=float)
    fwhm = np.asarray(table["FWHM_IMAGE"], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(flux_err > 0, flux / flux_err, 0.0)
    good = ((np.asarray(table["FLAGS"]) == 0) & (snr >= min_snr) & (fwhm > 0.5)
            & (np.asarray(table["ELONGATION"], dtype=float) < max_elongation))
    if not good.any():
        return np.nan * u.pix, 0
    _, median, _ = sigma_clipped_stats(fwhm[good], sigma=3.0, maxiters=10)
    return float(median) * u.pix, int(good.sum())
