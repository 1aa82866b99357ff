"""Input frames: validate a FITS file and make the working copy of its image.

The input is opened read-only and never written. Everything a tool sees is the
working copy ``work/frame.fits``: a plain 2-D float32 image with the header,
under a plain name, so paths with spaces or shell characters never reach a tool.
"""

import logging
import math
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning
from astropy.wcs import WCS, FITSFixedWarning

from ccdphot.errors import InputError

log = logging.getLogger(__name__)

_FITS_SUFFIXES = (".fz", ".gz", ".fits", ".fit", ".fts")
# Keywords that describe the stored encoding, not the image, and must not be
# copied to a float32 working copy.
_ENCODING_KEYS = ("BZERO", "BSCALE", "BLANK", "CHECKSUM", "DATASUM")


def frame_stem(path):
    """Name of a frame without its FITS suffixes (``a.fits.fz`` -> ``a``)."""
    name = Path(path).name
    changed = True
    while changed:
        changed = False
        for suffix in _FITS_SUFFIXES:
            if name.lower().endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
                changed = True
    return name


def _image_hdu(hdul, path):
    for index, hdu in enumerate(hdul):
        if hdu.is_image and hdu.header.get("NAXIS", 0) >= 2:
            return index, hdu
    raise InputError(f"{path}: FITS file without image data (no HDU holds a 2-D image); "
                     "give a frame with its image in the primary HDU or an image extension")


def read_frame(path):
    """Read and check an input frame; return (float32 image, header, HDU index).

    Raises :class:`InputError` naming the file and the problem: missing, not FITS,
    no image, a data cube, or no usable pixel values.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file; give a FITS image")
    try:
        with fits.open(path, mode="readonly", memmap=False) as hdul:
            hdul.verify("silentfix")
            index, hdu = _image_hdu(hdul, path)
            data = hdu.data
            header = hdu.header.copy()
    except InputError:
        raise
    except Exception as err:  # astropy raises many types for non-FITS content
        raise InputError(f"{path}: not a readable FITS file ({type(err).__name__}: {err}); "
                         "give a FITS image (.fits/.fit/.fts, optionally fpack .fz)") from err
    if data is None:
        raise InputError(f"{path}: HDU {index} declares an image but holds no data")
    data = np.asarray(data)
    if data.ndim > 2:
        planes = data.shape[:-2]
        if int(np.prod(planes)) != 1:
            raise InputError(f"{path}: a {data.ndim}-D data cube of shape {data.shape}; "
                             "ccdphot measures one 2-D frame per file: split the cube into "
                             "frames first")
        data = data.reshape(data.shape[-2:])
    data = data.astype(np.float32, copy=False)
    finite = np.isfinite(data)
    if not finite.any() or not np.any(data[finite] != 0):
        raise InputError(f"{path}: no usable pixel values (every pixel is zero or NaN); "
                         "check that the right file was given")
    return data, header, index


def working_header(header, data):
    """Header for the float32 working copy: encoding keywords dropped, 2-D axes."""
    header = header.copy()
    for key in _ENCODING_KEYS:
        header.remove(key, ignore_missing=True, remove_all=True)
    for key in ("NAXIS3", "NAXIS4"):
        header.remove(key, ignore_missing=True)
    header["NAXIS"] = 2
    header["NAXIS1"], header["NAXIS2"] = data.shape[1], data.shape[0]
    return header


def celestial_wcs(header):
    """The celestial WCS of a header, or None when it has no usable one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (FITSFixedWarning, AstropyWarning))
        try:
            wcs = WCS(header, naxis=2, relax=True, fix=True)
        except Exception as err:  # astropy.wcs raises several unrelated types
            log.warning("header WCS unusable (%s); no sky coordinates until astrometry", err)
            return None
    return wcs if wcs.has_celestial else None


def header_value(header, key, default=None):
    """A header value, blank strings stripped; ``default`` when absent or empty."""
    value = header.get(key, default) if header is not None else default
    if isinstance(value, str):
        value = value.strip()
        return value if value else default
    return value


def header_float(header, key):
    """A positive, finite numeric header value (GAIN, SATURATE, ...), else None.

    A value that is there but not a number is reported in the log.
    """
    value = header_value(header, key)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        log.warning("header %s=%r is not a number; ignored", key, value)
        return None
    return number if math.isfinite(number) and number > 0 else None
