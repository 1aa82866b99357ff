"""Per-frame products under ``RESULTS/<stem>/``, each written atomically.

A product is written to a temporary file in its own directory and renamed into
place, so a reader (or a crashed run) never sees half a file.
"""

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import yaml
from astropy.io import ascii as astropy_ascii
from astropy.io import fits
from astropy.table import Column, MaskedColumn, Table

from ccdphot.errors import InputError, OutputError

PHOTOMETRY_ECSV = "photometry.ecsv"
PHOTOMETRY_TXT = "photometry.txt"
RUN_JSON = "run.json"
LOG_NAME = "ccdphot.log"
WORK_DIR = "work"
# Versions of the per-frame products' layout, read by every multi-frame feature.
# Bump on any change a reader would notice; readers say which versions they accept.
PHOTOMETRY_SCHEMA = 1  # photometry.ecsv: columns and meta keys (docs/products.rst)
RUN_SCHEMA = 1  # run.json: keys

PRODUCT_MODE = 0o644  # mkstemp creates 0600 files; products are for everyone to read


@contextmanager
def atomic_target(path):
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The file gets mode 0644; on failure the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, PRODUCT_MODE)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(path, text):
    """Write ``text`` to ``path`` atomically."""
    with atomic_target(path) as tmp:
        Path(tmp).write_text(text)
    return Path(path)


def write_table_atomic(table, path, **kwargs):
    """Write an astropy Table atomically (format from ``kwargs`` or the suffix)."""
    with atomic_target(path) as tmp:
        table.write(tmp, overwrite=True, **kwargs)
    return Path(path)


def _jsonable(value):
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def write_run_json(out_dir, record):
    """Write the run record as ``run.json`` (with its ``schema`` version first)."""
    record = {"schema": RUN_SCHEMA, **{k: v for k, v in record.items() if k != "schema"}}
    return write_text_atomic(Path(out_dir) / RUN_JSON,
                             json.dumps(record, indent=2, default=_jsonable) + "\n")


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FAST_DATATYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                   "uint64", "float16", "float32", "float64")


def _fast_ecsv(lines):
    """Table from ECSV lines of plain numeric columns, or None for anything else."""
    n_header = 0
    while n_header < len(lines) and lines[n_header].startswith("#"):
        n_header += 1
    header = yaml.load("\n".join(line[2:] for line in lines[1:n_header]), Loader=_YAML_LOADER)
    columns = header.get("datatype") or []
    if not columns or any(c.get("datatype") not in _FAST_DATATYPES or "subtype" in c
                          for c in columns):
        return None
    body = lines[n_header:]
    read = {}
    if len(body) > 1:
        read = astropy_ascii.read(body, format="basic", guess=False, fast_reader=True,
                                  delimiter=header.get("delimiter", " "))
    built = []
    for column in columns:
        name, dtype = column["name"], np.dtype(column["datatype"])
        values = np.ma.asarray(read[name]) if len(body) > 1 else np.ma.array([], dtype=dtype)
        if values.dtype != dtype:  # e.g. an all-masked float column read as int
            values = values.astype(dtype)
        mask = np.ma.getmaskarray(values)
        kind = MaskedColumn if mask.any() else Column
        built.append(kind(values if mask.any() else np.ma.getdata(values), name=name,
                          unit=column.get("unit"), description=column.get("description")))
    table = Table(built, copy=False)
    meta = header.get("meta") or {}
    table.meta.update(dict(meta) if isinstance(meta, list) else meta)  # !!omap -> pairs
    return table


def read_ecsv(path):
    """An ECSV table, as ``Table.read(path, format="ascii.ecsv")`` gives it, ~10x faster.

    astropy reads ECSV with its pure-Python YAML and table readers (~0.1 s for a
    frame's unified table), which dominates a light curve of a thousand frames.
    Tables of plain numeric columns are read here with PyYAML's libyaml loader
    and astropy's fast C reader; anything else (strings, multidimensional
    columns, astropy-specific YAML tags) goes to ``Table.read``.
    """
    try:
        table = _fast_ecsv(Path(path).read_text().splitlines())
    except yaml.YAMLError:  # astropy-specific tags, e.g. a Quantity in meta
        table = None
    return table if table is not None else Table.read(path, format="ascii.ecsv")


def read_frame_products(result_dir, accept=(PHOTOMETRY_SCHEMA,)):
    """(unified Table, run record) of one ``RESULTS/<frame>/`` folder, for multi-frame code.

    Checks the schema versions against ``accept`` and raises
    :class:`~ccdphot.errors.InputError` naming the folder when a product is
    missing, unreadable or of a version this reader does not know.
    """
    result_dir = Path(result_dir)
    try:
        record = json.loads((result_dir / RUN_JSON).read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"{result_dir}: no readable {RUN_JSON} ({err}); give a RESULTS/<frame> "
                         "folder written by `ccdphot run`") from err
    path = result_dir / PHOTOMETRY_ECSV
    if not path.is_file():
        raise InputError(f"{result_dir}: no {PHOTOMETRY_ECSV} (frame status: "
                         f"{record.get('status', 'unknown')})")
    try:
        table = read_ecsv(path)
    except Exception as err:  # astropy and PyYAML raise several types for a damaged ECSV
        raise InputError(f"{path}: unreadable ({type(err).__name__}: {err})") from err
    version = table.meta.get("CCDPHOT_SCHEMA")
    if version not in accept:
        raise InputError(f"{path}: photometry schema {version!r} (ccdphot "
                         f"{table.meta.get('CCDPHOT_VERSION', 'before 0.2')}); this version reads "
                         f"schema {', '.join(map(str, accept))}: rerun `ccdphot run` on the frame")
    return table, record


def check_writable(directory):
    """Create ``directory`` if needed and make (and remove) a file in it; OSError if it cannot."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-", delete=True).close()


def prepare_output(out_root, stem):
    """Create ``out_root/stem`` and a fresh ``work/`` in it; check it is writable."""
    out_dir = Path(out_root) / stem
    work_dir = out_dir / WORK_DIR
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
        for old in work_dir.iterdir():
            if old.is_file() or old.is_symlink():
                old.unlink()
            else:
                shutil.rmtree(old)
        check_writable(out_dir)
    except OSError as err:
        reason = err.strerror or str(err)
        raise OutputError(f"cannot write results to {out_dir} ({reason}); choose a writable "
                          "directory with --out") from err
    return out_dir, work_dir


def write_fits_atomic(path, data, header):
    """Write a primary-HDU FITS file atomically (temporary file, then rename)."""
    with atomic_target(path) as tmp:
        fits.PrimaryHDU(data=data, header=header).writeto(tmp, overwrite=True,
                                                           output_verify="silentfix")
    return Path(path)
