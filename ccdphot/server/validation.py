"""Check an uploaded file before it is queued: a FITS image the engine can read.

First what can be judged from the headers alone, without reading any pixel
(FITS signature, image size against the server's limit, declared data size
against the file's size), so a hostile header (a huge NAXIS) costs nothing;
then the engine's own input checks (:func:`ccdphot.fitsio.read_frame`). Messages
name the file as the observer named it, never the server's path.
"""

import logging
import math
import warnings

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning

from ccdphot.errors import InputError
from ccdphot.fitsio import celestial_wcs, header_value, read_frame

log = logging.getLogger(__name__)

FITS_SIGNATURE = b"SIMPLE  ="
# Header values reported by a dry run (what the engine will start from).
SUMMARY_KEYS = ("OBJECT", "FILTER", "DATE-OBS", "EXPTIME", "TELESCOP", "INSTRUME", "OBSERVAT")


def _declared_images(path, name, max_pixels):
    """Check every HDU's declared image size and data span; no pixel is read."""
    size = path.stat().st_size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        with fits.open(path, mode="readonly", memmap=False, lazy_load_hdus=True) as hdul:
            for index, hdu in enumerate(hdul):
                shape = hdu.shape if hdu.is_image else ()
                pixels = math.prod(shape) if shape else 0
                if pixels > max_pixels:
                    dims = " x ".join(str(n) for n in shape[::-1])
                    raise InputError(f"{name}: HDU {index} declares an image of {dims} "
                                     f"pixels; this server takes at most "
                                     f"{max_pixels / 1e6:g} megapixels per frame")
                info = hdul.fileinfo(index)
                if info["datLoc"] + info["datSpan"] > size:
                    raise InputError(f"{name}: HDU {index} declares {info['datSpan']} bytes "
                                     f"of data but the file ends after {size} bytes; the "
                                     "upload is truncated or its header is wrong")


def _plain(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return None if value is None else str(value)


def check_upload(path, name, max_pixels):
    """Check the upload at ``path`` (shown as ``name``); return a summary of the frame.

    Raises :class:`~ccdphot.errors.InputError` with a one-line reason.
    """
    with open(path, "rb") as stream:
        head = stream.read(len(FITS_SIGNATURE))
    if head != FITS_SIGNATURE:
        raise InputError(f"{name}: not a FITS file (it does not start with 'SIMPLE  ='); "
                         "upload a FITS image, uncompressed or fpack-compressed")
    try:
        _declared_images(path, name, max_pixels)
        data, header, index = read_frame(path)
    except InputError as err:
        raise InputError(str(err).replace(str(path), name)) from err
    except Exception as err:  # astropy raises many types for damaged headers
        raise InputError(f"{name}: not a readable FITS file ({type(err).__name__}: "
                         f"{str(err).replace(str(path), name)})") from err
    summary = {"hdu": index, "shape_pix": [int(n) for n in data.shape[::-1]],
               "header_wcs": celestial_wcs(header) is not None}
    summary.update({key: _plain(header_value(header, key)) for key in SUMMARY_KEYS})
    return summary
