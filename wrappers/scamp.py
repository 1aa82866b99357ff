"""SCAMP: refine a frame's WCS against a local reference catalogue (TPV distortion).

A :class:`Job` (:mod:`ccdphot.wrappers.base`). *Build* writes the detection
list as a FITS_LDAC catalogue whose image header carries the initial WCS, the
reference catalogue (written by the catalogue layer) and the configuration
(``default_params/scamp/ccdphot.scamp``: offline ``ASTREF_CATALOG FILE``, no
check-plots, XML report on). *Parse* reads the ``.head`` output (ASCII cards,
maybe non-ASCII bytes; TPV written as ``RA---TAN`` + ``PV``) into a WCS and the
XML report into SCAMP's own quality figures; *check* refuses a solution whose
reference matches, dispersion or chi2 miss the thresholds.
"""

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from astropy.io import fits
from astropy.io.votable import parse as parse_votable
from astropy.table import Table
from astropy.wcs import WCS, FITSFixedWarning
from ccdphot.wrappers.base import (
    SolutionJob,
    SolutionResult,
    param_file,
    render_astromatic_config,
)

from ccdphot.astrometry.wcsfit import replace_wcs
from ccdphot.catalogs.writers import ldac_imhead, write_scamp_reference
from ccdphot.errors import OutputParseError, SolutionRejected

log = logging.getLogger(__name__)

TOOL = "scamp"
CONFIG_NAME = "ccdphot.scamp"
CATALOG_NAME = "scamp_input.ldac"
HEAD_NAME = "scamp_input.head"
REFERENCE_NAME = "reference.ldac"
XML_NAME = "scamp.xml"
# Header keywords copied into the detection catalogue's image header besides the WCS.
_FRAME_KEYS = ("EXPTIME", "FILTER", "DATE-OBS", "MJD-OBS", "AIRMASS",
               "GAIN", "SATURATE", "OBJECT")
_CARD = 80


def detection_hdus(stars, header, wcs):
    """The FITS_LDAC HDU list SCAMP reads: image header with ``wcs``, then the stars.

    ``stars`` has x_pix, y_pix (FITS pixels), FLUX_AUTO, FLUXERR_AUTO, FLAGS and
    FWHM_IMAGE. Centroid errors are SExtractor's ERRAWIN/ERRBWIN when present,
    else the usual estimate FWHM / (2.355 S/N), floored at 0.005 pix.
    """
    image_header = fits.Header([("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 2),
                                ("NAXIS1", header["NAXIS1"]), ("NAXIS2", header["NAXIS2"])])
    for key in _FRAME_KEYS:
        if key in header:
            image_header[key] = header[key]
    image_header = replace_wcs(image_header, wcs.celestial, cd_matrix=True)
    imhead = ldac_imhead(image_header)
    flux = np.asarray(stars["FLUX_AUTO"], float)
    flux_err = np.asarray(stars["FLUXERR_AUTO"], float)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(flux_err > 0, flux / flux_err, 1.0)
    if "ERRAWIN_IMAGE" in stars.colnames:
        err_a = np.asarray(stars["ERRAWIN_IMAGE"], float)
        err_b = np.asarray(stars["ERRBWIN_IMAGE"], float)
        err_theta = np.asarray(stars["ERRTHETAWIN_IMAGE"], float)
    else:
        err_a = np.maximum(np.asarray(stars["FWHM_IMAGE"], float) / (2.355 * snr), 0.005)
        err_b, err_theta = err_a, np.zeros(len(stars))
    columns = [("XWIN_IMAGE", "1D", "pixel", stars["x_pix"]),
               ("YWIN_IMAGE", "1D", "pixel", stars["y_pix"]),
               ("ERRAWIN_IMAGE", "1E", "pixel", err_a),
               ("ERRBWIN_IMAGE", "1E", "pixel", err_b),
               ("ERRTHETAWIN_IMAGE", "1E", "deg", err_theta),
               ("FLUX_AUTO", "1E", "count", flux),
               ("FLUXERR_AUTO", "1E", "count", flux_err),
               ("MAG_AUTO", "1E", "mag", -2.5 * np.log10(np.clip(flux, 1e-30, None))),
               ("MAGERR_AUTO", "1E", "mag", 1.0857 / snr),
               ("FLAGS", "1I", "", stars["FLAGS"])]
    objects = fits.BinTableHDU.from_columns(
        [fits.Column(name=n, format=f, unit=unit or None, array=np.asarray(a))
         for n, f, unit, a in columns], name="LDAC_OBJECTS")
    return fits.HDUList([fits.PrimaryHDU(), imhead, objects])


def blank_imhead_padding(path):
    """Turn the NUL bytes astropy pads LDAC_IMHEAD cards with into blanks, in place.

    astropy writes the blank tail of a string cell as NULs; SCAMP 2.10 crashes
    (segmentation fault) on a header card holding NULs.
    """
    with fits.open(path) as hdul:
        start = hdul["LDAC_IMHEAD"].fileinfo()["datLoc"]
        size = hdul["LDAC_IMHEAD"].header["NAXIS1"] * hdul["LDAC_IMHEAD"].header["NAXIS2"]
    with open(path, "r+b") as handle:
        handle.seek(start)
        block = handle.read(size)
        handle.seek(start)
        handle.write(block.replace(b"\0", b" "))


@dataclass(frozen=True, kw_only=True)
class Job(SolutionJob):
    """SCAMP from the initial ``wcs`` against ``reference`` (a catalogue-schema Table).

    ``stars`` are the usable detections (see :func:`detection_hdus`); ``band``
    the reference magnitude written for SCAMP. Besides ``acceptance``, the
    solution is rejected when SCAMP's reference chi2 is not a finite number.
    """

    stars: Table
    header: fits.Header
    wcs: WCS
    reference: Table
    band: Optional[str] = None
    distort_degrees: int = 3
    crossid_radius_arcsec: float = 3.0
    outputs = (HEAD_NAME, XML_NAME)

    def build(self):
        write_scamp_reference(self.reference, self.path(REFERENCE_NAME), band=self.band)
        detection_hdus(self.stars, self.header, self.wcs).writeto(self.path(CATALOG_NAME),
                                                                  overwrite=True)
        blank_imhead_padding(self.path(CATALOG_NAME))
        render_astromatic_config(param_file(TOOL, CONFIG_NAME), {
            "ASTREFCAT_NAME": REFERENCE_NAME,
            "DISTORT_DEGREES": int(self.distort_degrees),
            "CROSSID_RADIUS": float(self.crossid_radius_arcsec),
            "XML_NAME": XML_NAME,
        }, self.path(CONFIG_NAME))
        return [CATALOG_NAME, "-c", CONFIG_NAME]

    def parse(self, run):
        _, wcs = read_head(self.path(HEAD_NAME))
        figures = {**read_xml(self.path(XML_NAME)), "distort_degrees": int(self.distort_degrees)}
        log.info("SCAMP: dispersion %s arcsec (two axes), chi2 %.4g",
                 "/".join(f"{s:.3f}" for s in figures["sigma_ref_arcsec"]), figures["chi2_ref"])
        return SolutionResult(figures=figures, run=run, wcs=wcs,
                              n_matched=figures["n_matched_ref"],
                              rms_arcsec=max(figures["sigma_ref_arcsec"]))

    def check(self, result):
        super().check(result)
        if not np.isfinite(result.figures["chi2_ref"]):
            raise SolutionRejected(self.label, "SCAMP's reference chi2 is "
                                   f"{result.figures['chi2_ref']}", result.figures)


def read_head(path):
    """A SCAMP ``.head`` file as (astropy Header, celestial WCS); pure parsing.

    The file holds 80-column cards, one per line, possibly with non-ASCII
    bytes in comments (replaced); ``RA---TAN`` with ``PV`` keywords is TPV.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise OutputParseError(f"{path.name}: cannot read the SCAMP header ({err})") from err
    text = raw.decode("ascii", errors="replace").replace("\ufffd", "?")
    cards = []
    for line in text.splitlines():
        line = line.rstrip("\r")
        if not line.strip():
            continue
        if line.startswith("END") and not line[3:].strip():
            break
        cards.append(line[:_CARD].ljust(_CARD))
    try:
        header = fits.Header.fromstring("".join(cards))
    except ValueError as err:
        raise OutputParseError(f"{path.name}: not a SCAMP header ({err})") from err
    if "CTYPE1" not in header or "CD1_1" not in header:
        raise OutputParseError(f"{path.name}: SCAMP header without a WCS (no CTYPE1/CD1_1); "
                               "SCAMP found no astrometric solution")
    if header["CTYPE1"].strip() == "RA---TAN" and any(k.startswith("PV1_") for k in header):
        header["CTYPE1"], header["CTYPE2"] = "RA---TPV", "DEC--TPV"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header, naxis=2)
    if not wcs.has_celestial:
        raise OutputParseError(f"{path.name}: SCAMP header has no celestial WCS")
    return header, wcs


def read_xml(path):
    """SCAMP's quality figures from its XML report (pure parsing).

    Returns a dict: n_detections, n_matched_ref (detections matched to the
    reference), sigma_ref_arcsec and sigma_ref_high_snr_arcsec (2 axes each),
    chi2_ref.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            votable = parse_votable(str(path))
        fields = _table_named(votable, "Fields")
        groups = _table_named(votable, "FGroups")
        field, group = fields[0], groups[0]
        return {"n_detections": int(field["NDetect"]),
                "n_matched_ref": int(group["AstromNDets_Reference"]),
                "sigma_ref_arcsec": _pair(group["AstromSigma_Reference"]),
                "sigma_ref_high_snr_arcsec": _pair(group["AstromSigma_Reference_HighSN"]),
                "chi2_ref": float(group["AstromChi2_Reference"])}
    except Exception as err:  # the VOTable parser and a missing column raise many types
        raise OutputParseError(f"{path.name}: not a readable SCAMP XML report ({err})") from err


def _pair(values):
    return [round(float(v), 5) for v in np.atleast_1d(np.asarray(values, float))[:2]]


def _table_named(votable, name):
    for resource in votable.iter_tables():
        if resource.name == name or resource.ID == name:
            return resource.to_table(use_names_over_ids=True)
    raise KeyError(f"no '{name}' table")
