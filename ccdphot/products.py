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

from astropy.io import fits
from astropy.table import Table

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
        table = Table.read(path, format="ascii.ecsv")
    except Exception as err:  # astropy raises several types for a damaged ECSV
        raise InputError(f"{path}: unreadable ({type(err).__name__}: {err})") from err
    version = table.meta.get("CCDPHOT_SCHEMA")
    if version not in accept:
        raise InputError(f"{path}: photometry schema {version!r} (ccdphot "
                         f"{table.meta.get('CCDPHOT_VERSION', 'before 0.2')}); this version reads "
                         f"schema {', '.join(map(str, accept))}: rerun `ccdphot run` on the frame")
    return table, record


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
        probe = tempfile.NamedTemporaryFile(dir=out_dir, prefix=".probe-", delete=True)
        probe.close()
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
