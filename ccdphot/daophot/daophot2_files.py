"""Readers for the files of a standalone DAOPHOT II (Stetson) reduction, into astropy Tables.

``.coo`` (FIND), ``.ap`` (PHOTOMETRY), ``.lst`` (PICK), ``.nei`` (PSF
neighbours), ``.als`` (ALLSTAR), ``.nst`` (NSTAR), the ``.psf`` header and the
PSF log ``i.err``. (The option files are read by
:mod:`ccdphot.daophot.daophot2_options`; IRAF DAOPHOT's text outputs are parsed
by :mod:`ccdphot.wrappers.daophot`, into the same column names.)

Columns share one vocabulary: ID, X, Y (pix, FITS/DAOPHOT convention: first
pixel is 1.0), MAG/MERR (mag), SKY (adu), NITER, CHI, SHARP. DAOPHOT's
"undefined" markers (99.999 magnitudes, 9.9999 errors) are masked. The figures
of a DAOPHOT II file header (NL NX NY LOWBAD HIGHBAD THRESH AP1 PH/ADU RNOISE
FRAD) go into ``meta`` under names that carry their units.

Files as observers really have them: the layout is read from the content, not
from the header's NL (tools that write PICK lists by copying the ``.ap``
header leave NL=2 in a ``.lst``); CRLF line ends, trailing blanks, tabs and
blank lines are accepted; an ``.ap`` may hold any number of apertures. What does
not match the textbook layout is a :class:`DaophotFileWarning`; only content
that cannot be read raises, naming the file and line. All functions are pure:
they read one file and never write.
"""

import logging
import re
import warnings
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.table import MaskedColumn, Table

from ccdphot.daophot.psets import PSF_FUNCTIONS
from ccdphot.errors import OutputParseError
from ccdphot.wrappers.daophot import read_iraf_daophot

log = logging.getLogger(__name__)

# One number of a DAOPHOT fixed-width line. Fortran fields can touch when a
# value fills its field (``-2.5E-01-8.3E-01``), so numbers are found by pattern
# rather than by splitting on blanks.
FORTRAN_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[EeDd][-+]?\d+)?")

# DAOPHOT II header labels -> meta names (with units).
_HEADER_FIGURES = {
    "NL": "nl",
    "NX": "nx",
    "NY": "ny",
    "LOWBAD": "low_bad_adu",
    "HIGHBAD": "high_bad_adu",
    "THRESH": "threshold_adu",
    "AP1": "aperture1_pix",
    "PH/ADU": "gain_e_per_adu",
    "RNOISE": "read_noise_adu",
    "FRAD": "fitting_radius_pix",
}

DAOPHOT_UNDEFINED_MAG = 99.999
DAOPHOT_UNDEFINED_ERR = 9.9999

# DAOPHOT II PSF-file label -> (ANALYTIC MODEL PSF number, IRAF daopars.function).
_PSF_LABELS = {label: (number, iraf) for iraf, (label, number, _) in PSF_FUNCTIONS.items()}
# Number of PSF look-up tables -> VARIABLE PSF order (DAOPHOT II and IRAF varorder).
_LOOKUP_TABLES_TO_VARORDER = {0: -1, 1: 0, 3: 1, 6: 2}

class DaophotFileWarning(UserWarning):
    """A DAOPHOT II file departs from the textbook layout but can be read."""


# Kind of star file -> (the NL DAOPHOT II writes in its header, what the layout is).
_KINDS = {
    "coo": (1, "a FIND star list (one line per star)"),
    "ap": (2, "a PHOTOMETRY file (two lines per star)"),
    "lst": (3, "a PICK list (one line per star)"),
    "nei": (3, "a PSF neighbour file (one line per star)"),
    "als": (1, "an ALLSTAR file (one line per star)"),
    "nst": (1, "an NSTAR file (one line per star)"),
}


# --------------------------------------------------------------------------
# DAOPHOT II star files


def _read_lines(path):
    """The lines of a text file: any line end (LF, CRLF, CR), a byte-order mark dropped."""
    path = Path(path)
    try:
        return path.read_text(errors="replace").lstrip("\ufeff").splitlines()
    except OSError as err:
        raise OutputParseError(f"{path}: cannot be read ({err.strerror or err})") from err


def fortran_numbers(line):
    """The numbers of a line of a DAOPHOT file (Fortran D exponents too), in order."""
    return [float(t.replace("D", "E").replace("d", "e")) for t in FORTRAN_NUMBER.findall(line)]


def _parse_header(path, lines):
    """(meta, index of the first data line) of a DAOPHOT II file.

    A file without the ``NL`` header is accepted (DAOPHOT II does the same):
    meta is then empty and data start on the first line.
    """
    if not lines or not lines[0].strip().startswith("NL"):
        return {}, 0
    labels = lines[0].split()
    values = lines[1].split() if len(lines) > 1 else []
    if len(values) < 3 or len(values) > len(labels):
        raise OutputParseError(f"{Path(path).name} line 2: DAOPHOT header values "
                               f"{values!r} do not match the labels {labels!r}")
    meta = {}
    for label, text in zip(labels, values):
        try:
            value = float(text)
        except ValueError as err:
            raise OutputParseError(f"{Path(path).name} line 2: header value {text!r} of "
                                   f"{label} is not a number") from err
        name = _HEADER_FIGURES.get(label, label.lower())
        meta[name] = int(value) if label in ("NL", "NX", "NY") else value
    return meta, 2


def _layout(path, meta, kind):
    """What a file of ``kind`` holds, for messages; warns when the header's NL differs.

    The header does not decide the layout: the content is read as ``kind``
    (the caller's choice, from the file's role) and must fit it.
    """
    expected, what = _KINDS[kind]
    nl = meta.get("nl")
    if nl is None or nl == expected:
        return what
    warnings.warn(f"{Path(path).name}: the header says NL={nl} but the file is read by its "
                  f"content as {what}, whose NL is {expected} (a header copied from another "
                  "file?)", DaophotFileWarning, stacklevel=4)
    return f"{what}; the header says NL={nl}"


def _rows(path, lines, start, n_min, n_max, what, flag=False):
    """Numbers of each non-blank data line as (line number, values, trailing text)."""
    out = []
    for number, line in enumerate(lines[start:], start=start + 1):
        if not line.strip():
            continue
        text = line
        tail = ""
        if flag:
            match = re.search(r"[^\d\s.Ee+\-]+\s*$", line)
            if match:
                tail = match.group(0).strip()
                text = line[:match.start()]
        values = fortran_numbers(text)
        rest = FORTRAN_NUMBER.sub("", text).strip()
        if rest or not n_min <= len(values) <= n_max:
            want = n_min if n_min == n_max else f"{n_min} to {n_max}"
            raise OutputParseError(f"{Path(path).name} line {number}: expected {want} numbers "
                                   f"({what}), got {line.strip()!r}")
        out.append((number, values, tail))
    return out


def _wholefortran_numbers(path, name, values, line_numbers, what):
    """``values`` as integers; a fraction is an error naming its line."""
    values = np.asarray(values, dtype=float)
    bad = np.flatnonzero(values != np.rint(values))
    if len(bad):
        raise OutputParseError(f"{Path(path).name} line {line_numbers[bad[0]]}: {name} "
                               f"{values[bad[0]]:g} is not a whole number ({what})")
    return np.rint(values).astype("i8")


def _masked(values, bad=None, unit=None):
    values = np.asarray(values, dtype=float)
    mask = np.zeros(len(values), bool)
    if bad is not None:
        # DAOPHOT writes +-99.999 (magnitudes) or 9.9999 (errors) when undefined
        mask = np.abs(values) >= abs(bad) - 5e-4
    return MaskedColumn(values, mask=mask, unit=unit)


def _table(path, meta, columns):
    table = Table(columns, meta=dict(meta))
    table.meta["source_file"] = Path(path).name
    if "nx" in meta and "ny" in meta:
        table.meta["image_shape"] = (meta["ny"], meta["nx"])
    return table


def _star_table(path, meta, rows, spec, what):
    """Build a Table from parsed rows; ``spec`` lists (name, unit, undefined marker)."""
    width = max((len(values) for _, values, _ in rows), default=len(spec))
    data = np.full((len(rows), width), np.nan)
    for i, (_, values, _) in enumerate(rows):
        data[i, :len(values)] = values
    line_numbers = [number for number, _, _ in rows]
    columns = []
    for i, (name, unit, bad) in enumerate(spec):
        if i >= data.shape[1]:
            break
        if name in ("ID", "NITER"):
            if np.isnan(data[:, i]).any():
                raise OutputParseError(f"{Path(path).name}: some lines lack the {name} column")
            columns.append(MaskedColumn(_wholefortran_numbers(path, name, data[:, i], line_numbers,
                                                       what), name=name))
        else:
            col = _masked(data[:, i], bad=bad, unit=unit)
            col.mask |= np.isnan(data[:, i])
            col.name = name
            columns.append(col)
    return _table(path, meta, columns)


def _read_simple(path, kind, spec, n_min=None, flag=False):
    lines = _read_lines(path)
    meta, start = _parse_header(path, lines)
    what = _layout(path, meta, kind)
    rows = _rows(path, lines, start, n_min or len(spec), len(spec), what, flag=flag)
    return meta, rows, _star_table(path, meta, rows, spec, what)


def read_daophot_coo(path):
    """FIND star list (``.coo``): ID, X, Y, MAG (relative to the threshold), SHARP,
    SROUND, GROUND (FIND's sharpness and roundness indices, named as IRAF daofind
    names them; +-9.999, written where FIND could not compute them, is masked)."""
    spec = [("ID", None, None), ("X", u.pix, None), ("Y", u.pix, None), ("MAG", u.mag, None),
            ("SHARP", None, -9.999), ("SROUND", None, -9.999), ("GROUND", None, -9.999)]
    _, _, table = _read_simple(path, "coo", spec, n_min=3)
    return table


def _per_aperture(values, name, undefined):
    """Columns NAME1..NAMEn (mag) of the n aperture columns of ``values``."""
    columns = []
    for i in range(values.shape[1]):
        column = _masked(values[:, i], bad=undefined, unit=u.mag)
        column.name = f"{name}{i + 1}"
        columns.append(column)
    return columns


def read_daophot_ap(path):
    """PHOTOMETRY output (``.ap``): two lines per star, any number of apertures.

    Columns: ID, X, Y, MAG1..MAGn, SKY, SKY_SIGMA, SKY_SKEW, MERR1..MERRn, and
    MAG/MERR as aliases of the first aperture. ``meta['apertures']`` is n.
    99.999 magnitudes and 9.9999 errors (undefined) are masked.
    """
    lines = _read_lines(path)
    meta, start = _parse_header(path, lines)
    what = _layout(path, meta, "ap")
    name = Path(path).name
    body = [(n, line) for n, line in enumerate(lines[start:], start=start + 1) if line.strip()]
    if len(body) % 2:
        raise OutputParseError(f"{name} line {body[-1][0]}: the last star has only one of its "
                               f"two lines (file truncated?; {what})")
    first, second, numbers, n_ap = [], [], [], None
    for (n1, line1), (n2, line2) in zip(body[0::2], body[1::2]):
        v1, v2 = fortran_numbers(line1), fortran_numbers(line2)
        if n_ap is None:
            n_ap = len(v1) - 3
        if n_ap < 1 or len(v1) != 3 + n_ap or FORTRAN_NUMBER.sub("", line1).strip():
            raise OutputParseError(f"{name} line {n1}: expected ID, X, Y and "
                                   f"{n_ap or 'one or more'} magnitudes ({what}), got "
                                   f"{line1.strip()!r}")
        if len(v2) != 3 + n_ap or FORTRAN_NUMBER.sub("", line2).strip():
            raise OutputParseError(f"{name} line {n2}: expected sky, sigma, skew and {n_ap} "
                                   f"magnitude errors ({what}), got {line2.strip()!r}")
        first.append(v1)
        second.append(v2)
        numbers.append(n1)
    if n_ap is None:
        n_ap = 0
    first = np.array(first, dtype=float).reshape(-1, 3 + n_ap)
    second = np.array(second, dtype=float).reshape(-1, 3 + n_ap)
    columns = [MaskedColumn(_wholefortran_numbers(path, "ID", first[:, 0], numbers, what), name="ID"),
               MaskedColumn(first[:, 1], name="X", unit=u.pix),
               MaskedColumn(first[:, 2], name="Y", unit=u.pix)]
    columns += _per_aperture(first[:, 3:], "MAG", DAOPHOT_UNDEFINED_MAG)
    columns += [MaskedColumn(second[:, 0], name="SKY", unit=u.adu),
                MaskedColumn(second[:, 1], name="SKY_SIGMA", unit=u.adu),
                MaskedColumn(second[:, 2], name="SKY_SKEW", unit=u.adu)]
    columns += _per_aperture(second[:, 3:], "MERR", DAOPHOT_UNDEFINED_ERR)
    table = _table(path, meta, columns)
    if n_ap:
        table["MAG"] = table["MAG1"]
        table["MERR"] = table["MERR1"]
    table.meta["apertures"] = n_ap
    return table


def read_daophot_lst(path):
    """PICK PSF-candidate list (``.lst``): ID, X, Y, MAG, MERR and, when PICK
    wrote it, DMAG_AP12 (first minus second aperture magnitude)."""
    spec = [("ID", None, None), ("X", u.pix, None), ("Y", u.pix, None),
            ("MAG", u.mag, DAOPHOT_UNDEFINED_MAG), ("MERR", u.mag, DAOPHOT_UNDEFINED_ERR),
            ("DMAG_AP12", u.mag, None)]
    _, _, table = _read_simple(path, "lst", spec, n_min=4)
    return table


def read_daophot_nei(path):
    """PSF neighbour file (``.nei``): ID, X, Y, MAG, SKY and FLAG, the mark PSF
    puts after a PSF star it found suspect ('?') or rejected ('*'); '' otherwise."""
    spec = [("ID", None, None), ("X", u.pix, None), ("Y", u.pix, None),
            ("MAG", u.mag, DAOPHOT_UNDEFINED_MAG), ("SKY", u.adu, None)]
    _, rows, table = _read_simple(path, "nei", spec, n_min=4, flag=True)
    table["FLAG"] = [tail for _, _, tail in rows]
    bad = [(n, tail) for n, _, tail in rows if tail not in ("", "?", "*")]
    if bad:
        raise OutputParseError(f"{Path(path).name} line {bad[0][0]}: unknown PSF flag "
                               f"{bad[0][1]!r} (DAOPHOT writes '?' or '*')")
    return table


_FIT_SPEC = [("ID", None, None), ("X", u.pix, None), ("Y", u.pix, None),
             ("MAG", u.mag, DAOPHOT_UNDEFINED_MAG), ("MERR", u.mag, DAOPHOT_UNDEFINED_ERR),
             ("SKY", u.adu, None), ("NITER", None, None), ("CHI", None, None),
             ("SHARP", None, None)]


def read_daophot_als(path):
    """ALLSTAR results (``.als``): ID, X, Y, MAG, MERR, SKY, NITER, CHI, SHARP.
    ``meta['fitting_radius_pix']`` is the fitting radius ALLSTAR actually used."""
    _, _, table = _read_simple(path, "als", _FIT_SPEC)
    return table


def read_daophot_nst(path):
    """NSTAR results (``.nst``): same columns as ``.als``."""
    _, _, table = _read_simple(path, "nst", _FIT_SPEC)
    return table


def read_daophot_psf(path):
    """Header of a DAOPHOT II PSF file (``.psf``) as a dict.

    Keys: function (DAOPHOT label), iraf_function, analytic_model_psf (the AN
    number), table_size (NPSF), n_parameters, n_lookup_tables, varorder,
    fractional_expansion, psf_mag, peak_height_adu, x_center_pix, y_center_pix,
    psf_radius_pix (= ((NPSF-1)/2 - 1)/2, what PS was), parameters (list), and for
    a GAUSSIAN, whose two parameters are half widths at half maximum,
    fwhm_x_pix / fwhm_y_pix.
    """
    lines = _read_lines(path)
    name = Path(path).name
    if len(lines) < 2 or not lines[0].split():
        raise OutputParseError(f"{name} line 1: empty, not a DAOPHOT PSF file")
    label = lines[0].split()[0].upper()
    if label not in _PSF_LABELS:
        raise OutputParseError(f"{name} line 1: unknown analytic function {label!r} (expected "
                               f"one of {', '.join(_PSF_LABELS)})")
    head = fortran_numbers(lines[0][lines[0].upper().index(label) + len(label):])
    if len(head) != 8:
        raise OutputParseError(f"{name} line 1: expected the function name and 8 numbers "
                               f"(NPSF NPAR NEXP NFRAC PSFMAG BRIGHT XPSF YPSF), got "
                               f"{lines[0].strip()!r}")
    npsf, npar, nexp, nfrac = (int(v) for v in head[:4])
    params = fortran_numbers(lines[1])
    if len(params) != npar:
        raise OutputParseError(f"{name} line 2: expected {npar} PSF parameters, got "
                               f"{lines[1].strip()!r}")
    number, iraf = _PSF_LABELS[label]
    info = {
        "source_file": name, "function": label, "iraf_function": iraf,
        "analytic_model_psf": number, "table_size": npsf, "n_parameters": npar,
        "n_lookup_tables": nexp, "varorder": _LOOKUP_TABLES_TO_VARORDER.get(nexp),
        "fractional_expansion": nfrac, "psf_mag": head[4], "peak_height_adu": head[5],
        "x_center_pix": head[6], "y_center_pix": head[7],
        "psf_radius_pix": ((npsf - 1) / 2.0 - 1.0) / 2.0, "parameters": params,
    }
    if label == "GAUSSIAN":
        info["fwhm_x_pix"], info["fwhm_y_pix"] = 2.0 * params[0], 2.0 * params[1]
    return info


def read_daophot_err(path):
    """PSF fitting log (``i.err``): ID, RESIDUAL (the star's relative fit scatter)
    and FLAG ('?' suspect, '*' rejected by PSF, '' good)."""
    lines = _read_lines(path)
    what = "a PSF log: ID, residual and flag per line"
    rows = _rows(path, lines, 0, 2, 2, what, flag=True)
    table = _table(path, {}, [
        MaskedColumn(_wholefortran_numbers(path, "ID", [v[0] for _, v, _ in rows],
                                    [n for n, _, _ in rows], what), name="ID", dtype="i8"),
        MaskedColumn([v[1] for _, v, _ in rows], name="RESIDUAL", dtype=float)])
    table["FLAG"] = [tail for _, _, tail in rows]
    return table


_READERS = {".coo": read_daophot_coo, ".ap": read_daophot_ap, ".lst": read_daophot_lst,
            ".nei": read_daophot_nei, ".als": read_daophot_als, ".nst": read_daophot_nst,
            ".err": read_daophot_err}


def read_daophot_file(path):
    """Any DAOPHOT star file as a Table, the reader chosen from its content and name.

    IRAF outputs (first line ``#K ...``) go to :func:`read_iraf_daophot`; DAOPHOT
    II files by suffix (.coo, .ap, .lst, .nei, .als, .nst, .err). PSF and option
    files have their own readers (:func:`read_daophot_psf`,
    :func:`ccdphot.daophot.daophot2_options.read_daophot_options`).
    """
    path = Path(path)
    lines = _read_lines(path)
    if lines and lines[0].startswith("#K"):
        return read_iraf_daophot(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise OutputParseError(f"{path.name}: not a DAOPHOT star file this reader knows "
                               f"(suffixes {', '.join(_READERS)} or an IRAF DAOPHOT output)")
    return reader(path)
