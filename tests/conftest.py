"""Shared fixtures and the tool markers.

A test marked ``requires_<tool>`` runs the real tool. On a machine without it
the test is skipped, except in CI (``CI=true``), where a missing tool is a
failure: CI installs every tool, so a skip there would hide a broken install.
"""

import os
import shutil
from pathlib import Path

import pytest

from ccdphot.config import load_config
from ccdphot.errors import ToolNotFoundError
from ccdphot.tools import ToolRegistry

TESTS = Path(__file__).parent
DATA = TESTS / "data"
SHARED_DATA = TESTS.parent.parent / "shared" / "data"

# marker -> registry name(s) of the tools it needs
MARKER_TOOLS = {
    "requires_sextractor": ("sextractor",),
    "requires_scamp": ("scamp",),
    "requires_psfex": ("psfex",),
    "requires_swarp": ("swarp",),
    "requires_wcstools": ("imwcs",),
    "requires_iraf": ("iraf",),
    "requires_astrometry_net": ("solve_field",),
    "requires_vartools": ("vartools",),
}


def _in_ci():
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing_reason(marker):
    registry = ToolRegistry(load_config())
    for name in MARKER_TOOLS[marker]:
        try:
            registry.resolve(name)
        except ToolNotFoundError as err:
            return str(err)
    # requires_iraf: the registry's version probe runs the PyRAF worker, which
    # fails (tool missing) when PyRAF or IRAF is not usable.
    return None


_REASONS = {}


def pytest_runtest_setup(item):
    for marker in item.iter_markers():
        if marker.name not in MARKER_TOOLS:
            continue
        if marker.name not in _REASONS:
            _REASONS[marker.name] = _missing_reason(marker.name)
        reason = _REASONS[marker.name]
        if reason:
            if _in_ci():
                pytest.fail(f"CI=true and the tool for {marker.name} is missing: {reason}")
            pytest.skip(reason)


@pytest.fixture(scope="session")
def ngc6871_dir():
    """The NGC 6871 frame and its legacy DAOPHOT II reduction (MIT, bundled)."""
    return DATA / "ngc6871"


@pytest.fixture(scope="session")
def ngc6871_fits(ngc6871_dir):
    return ngc6871_dir / "NGC6871.fits"


@pytest.fixture(scope="session")
def shared_data():
    """``../shared/data`` (sets without a licence to copy): skip if absent, fail in CI."""
    if not SHARED_DATA.is_dir():
        if _in_ci():
            pytest.fail(f"CI=true but the shared data directory {SHARED_DATA} is missing")
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA


@pytest.fixture
def frame_copy(tmp_path, ngc6871_fits):
    """A private copy of the NGC 6871 frame, to check inputs are never modified."""
    dest = tmp_path / "input" / "NGC6871.fits"
    dest.parent.mkdir()
    shutil.copyfile(ngc6871_fits, dest)
    return dest


def run_cli(*args, cwd=None):
    """Run ``ccdphot ARGS`` as a subprocess of the installed package under test."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-P", "-m", "ccdphot", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=900, check=False)


@pytest.fixture(scope="session")
def ccdphot_cli():
    """Function running the ccdphot command line: ``ccdphot_cli("run", path, ...)``."""
    return run_cli
