"""The files of a legacy DAOPHOT II reduction: found, read and checked against the frame.

A directory holds option files (``daophot.opt``, ``photo.opt``, ``allstar.opt``)
and star files (``.coo``, ``.ap``, ``.lst``, ``.nei``, ``.als``, ``.nst``) and a
``.psf``. :func:`find_files` picks one of each; :func:`read_files` reads them
with :mod:`ccdphot.daophot.daophot2_files` / ``daophot2_options`` and refuses
files made on another image (size, stars outside the frame, PSF centre).
"""

import logging
import warnings

import numpy as np

from ccdphot.daophot import daophot2_files as dao
from ccdphot.daophot import daophot2_options as options
from ccdphot.errors import InputError

log = logging.getLogger(__name__)

# file role -> reader; option files are found by name.
STAR_FILES = {
    "coo": dao.read_daophot_coo, "ap": dao.read_daophot_ap, "lst": dao.read_daophot_lst,
    "nei": dao.read_daophot_nei, "als": dao.read_daophot_als, "nst": dao.read_daophot_nst,
}
OPTION_FILES = ("daophot", "photo", "allstar")
EDGE_MARGIN_PIX = 2.0


def find_files(directory, image_stem):
    """{"daophot.opt"|...|role: path} of the reduction in ``directory``; several files
    of one role (not told apart by ``image_stem``) are an error."""
    files = {}
    entries = [p for p in directory.iterdir() if p.is_file()]
    for kind in OPTION_FILES:
        hits = [p for p in entries if p.name.lower() == f"{kind}.opt"]
        if hits:
            files[f"{kind}.opt"] = hits[0]
    for role in (*STAR_FILES, "psf"):
        hits = sorted(p for p in entries if p.suffix.lower() == f".{role}")
        if image_stem and len(hits) > 1:
            hits = [p for p in hits if p.stem.lower() == image_stem.lower()]
        if len(hits) > 1:
            names = ", ".join(p.name for p in hits)
            raise InputError(f"{directory}: several legacy .{role} files ({names}); keep one "
                             "reduction per directory or give the image stem")
        if hits:
            files[role] = hits[0]
    return files


def _check_frame(table, path, image_shape):
    """The star file must belong to a frame of ``image_shape`` (ny, nx)."""
    if image_shape is None:
        return
    ny, nx = (int(n) for n in image_shape)
    shape = table.meta.get("image_shape")
    if shape and tuple(shape) != (ny, nx):
        raise InputError(f"{path.name} was made on a {shape[1]}x{shape[0]} pixel image but the "
                         f"frame is {nx}x{ny}: this legacy reduction belongs to another image")
    if len(table):
        x = np.asarray(table["X"], float)
        y = np.asarray(table["Y"], float)
        # fitted positions may wander a little past the edge; a star farther
        # out than EDGE_MARGIN_PIX means the file is not of this frame
        low = 0.5 - EDGE_MARGIN_PIX
        outside = ((x < low) | (x > nx + 0.5 + EDGE_MARGIN_PIX)
                   | (y < low) | (y > ny + 0.5 + EDGE_MARGIN_PIX))
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise InputError(f"{path.name}: {int(outside.sum())} stars lie outside the {nx}x{ny} "
                             f"frame (first: ID {table['ID'][i]} at {x[i]:.2f}, {y[i]:.2f}); "
                             "this legacy reduction belongs to another image")


def _check_psf_frame(psf, path, image_shape):
    """DAOPHOT II centres a PSF's variation on the frame: XPSF = (NX - 1)/2."""
    if image_shape is None:
        return
    ny, nx = (int(n) for n in image_shape)
    made = (round(2 * psf["y_center_pix"] + 1), round(2 * psf["x_center_pix"] + 1))
    if made != (ny, nx):
        raise InputError(f"{path.name} was made for a {made[1]}x{made[0]} pixel image (centre "
                         f"{psf['x_center_pix']:g}, {psf['y_center_pix']:g}) but the frame is "
                         f"{nx}x{ny}: this legacy reduction belongs to another image")


def read_files(files, image_shape):
    """(options by kind, star-file tables by role, PSF dict or None, reader notes).

    Each star file and the PSF are checked against ``image_shape`` (ny, nx; None:
    not checked). The readers' DaophotFileWarning messages come back as notes
    for the reduction's warnings; other warnings pass on.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", dao.DaophotFileWarning)
        opts = {}
        for kind in OPTION_FILES:
            path = files.get(f"{kind}.opt")
            opts[kind] = options.read_daophot_options(path, kind) if path else {}
        tables = {}
        for role, reader in STAR_FILES.items():
            if role in files:
                tables[role] = reader(files[role])
                _check_frame(tables[role], files[role], image_shape)
        psf = None
        if "psf" in files:
            psf = dao.read_daophot_psf(files["psf"])
            _check_psf_frame(psf, files["psf"], image_shape)
    notes = []
    for warning in caught:
        if issubclass(warning.category, dao.DaophotFileWarning):
            notes.append(str(warning.message))
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    return opts, tables, psf, notes


def image_shape_of(tables, directory):
    """The (ny, nx) the star files' headers record, or None; several sizes are an error."""
    shapes = {t.meta["image_shape"] for t in tables.values() if "image_shape" in t.meta}
    if len(shapes) > 1:
        raise InputError(f"{directory}: the legacy star files were made on images of different "
                         f"sizes {sorted(shapes)}; keep one reduction per directory")
    return shapes.pop() if shapes else None
