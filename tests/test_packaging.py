"""The one apt list feeds setup.sh, CI and the Dockerfile; the layout installs: the
package under test is this checkout, and its wheel installs and works in a new
virtual environment."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path


ROOT = Path(__file__).parent.parent
APT_LIST = "apt-packages.txt"


def apt_packages():
    names = []
    for line in (ROOT / APT_LIST).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


def test_apt_list_has_every_external_tool_and_pyraf_build_needs():
    names = set(apt_packages())
    for package in ("source-extractor", "scamp", "psfex", "swarp", "wcstools", "iraf",
                    "iraf-noao", "astrometry.net", "gcc", "libx11-dev"):
        assert package in names, package


def test_setup_ci_and_dockerfile_install_from_the_same_list():
    setup = (ROOT / "setup.sh").read_text()
    docker = (ROOT / "Dockerfile").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert f"{APT_LIST}" in setup and "apt-get install" in setup
    assert f"COPY {APT_LIST} " in docker and "apt-get install" in docker
    assert docker.splitlines()[[l.startswith("FROM") for l in docker.splitlines()].index(True)
                               ].split()[1].startswith("debian:bookworm")
    assert "pip install /src/ccdphot" in docker and 'ENTRYPOINT ["ccdphot"]' in docker
    assert "WORKDIR /data" in docker
    assert "bash setup.sh test" in ci


def test_readme_quick_start_is_the_two_setup_commands():
    readme = (ROOT / "README.rst").read_text()
    assert "bash setup.sh demo" in readme and "bash setup.sh test" in readme


def test_wrappers_and_default_params_are_installed_in_the_ccdphot_namespace():
    from importlib import resources

    import ccdphot.default_params
    import ccdphot.wrappers.sextractor

    assert resources.files("ccdphot.default_params").joinpath("ccdphot.toml").is_file()
    assert resources.files("ccdphot.default_params").joinpath(
        "sextractor", "ccdphot.sex").is_file()
    # Installed as ccdphot/wrappers/, not imported from the top-level wrappers/ folder.
    installed = Path(ccdphot.wrappers.sextractor.__file__)
    assert installed.parent.name == "wrappers" and installed.parent.parent.name == "ccdphot"


# -- the package as pip installs it ------------------------------------------------------

# setup.cfg package_dir: installed package folder -> source folder of the checkout
PACKAGE_DIRS = {"ccdphot": "ccdphot", "ccdphot/wrappers": "wrappers",
                "ccdphot/default_params": "default_params"}
BUILD_INPUTS = ("setup.cfg", "pyproject.toml", "README.rst", *PACKAGE_DIRS.values())


def _source_files():
    """Installed path (e.g. ccdphot/wrappers/base.py) -> source file, for every file the
    checkout's package folders hold (compiled files excluded)."""
    files = {}
    for installed, folder in PACKAGE_DIRS.items():
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files[f"{installed}/{path.relative_to(ROOT / folder).as_posix()}"] = path
    return files


def test_the_installed_package_under_test_is_this_checkout():
    """The suite tests the installed copy: it must be this checkout's files, no more (a
    stale build/ folder makes pip install modules deleted from the sources, and imports of
    them keep passing) and no older (sources changed without rerunning setup.sh)."""
    import ccdphot

    site = Path(ccdphot.__file__).parent.parent
    installed = {path.relative_to(site).as_posix(): path
                 for path in (site / "ccdphot").rglob("*")
                 if path.is_file() and "__pycache__" not in path.parts}
    sources = _source_files()
    assert sorted(set(installed) - set(sources)) == [], "not in the sources: rm -rf build"
    assert sorted(set(sources) - set(installed)) == [], "not installed: bash setup.sh"
    stale = [name for name, path in sources.items()
             if path.read_bytes() != installed[name].read_bytes()]
    assert stale == [], "installed copy differs from the sources: bash setup.sh"


def _dependencies_without_ccdphot(folder):
    """A folder of links to everything this environment's site-packages holds except
    ccdphot itself: the installed dependencies, without the package under test."""
    folder.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.lower().startswith("ccdphot"):
            (folder / entry.name).symlink_to(entry)
    return folder


_CHECK_INSTALLED = """
import json
from importlib import resources
from importlib.metadata import distribution
import ccdphot.wrappers.sextractor as sextractor
from ccdphot.config import load_config
from ccdphot.wrappers.base import param_file
params = resources.files("ccdphot.default_params")
print(json.dumps({
    "sextractor": sextractor.__file__,
    "sex": str(param_file("sextractor", "ccdphot.sex")),
    "sex_text": params.joinpath("sextractor", "ccdphot.sex").read_text(),
    "conv_text": params.joinpath("sextractor", "default.conv").read_text(),
    "psets": params.joinpath("daophot", "psets.toml").is_file(),
    "profiles": sorted(p.name for p in params.joinpath("profiles").iterdir()),
    "detect_thresh_sigma": load_config()["detect"]["detect_thresh_sigma"],
    "scripts": {ep.name: ep.value for ep in distribution("ccdphot").entry_points
                if ep.group == "console_scripts"},
}))
"""


def run(argv, **kwargs):
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, check=False, **kwargs)
    assert done.returncode == 0, f"{argv[0]} ... failed: {done.stderr[-3000:]}"
    return done


_BUILD_WHEEL = """
import importlib, sys
try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
with open("pyproject.toml", "rb") as handle:
    backend = tomllib.load(handle)["build-system"]["build-backend"]
print(importlib.import_module(backend).build_wheel(sys.argv[1]))
"""


def test_wheel_installs_into_a_fresh_environment(tmp_path):
    """Build the wheel from a clean copy of the sources with the PEP 517 backend that
    pyproject.toml names (offline: this environment's setuptools and wheel, no index),
    install it with pip --no-deps into a new virtual environment that sees this
    environment's dependencies but not its ccdphot, and use it from there."""
    source = tmp_path / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copyfile(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = run([sys.executable, "-c", _BUILD_WHEEL, str(tmp_path / "dist")], cwd=source)
    wheel = tmp_path / "dist" / built.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as archive:
        packaged = {name for name in archive.namelist() if ".dist-info/" not in name}
    assert packaged == set(_source_files())

    venv = tmp_path / "fresh venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)])
    fresh_site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_path("
                           "'purelib'))"]).stdout.strip())
    deps = _dependencies_without_ccdphot(tmp_path / "dependencies")
    (fresh_site / "dependencies.pth").write_text(f"{deps}\n")

    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    found = json.loads(run([str(python), "-I", "-c", _CHECK_INSTALLED], env=env).stdout)
    assert Path(found["sextractor"]) == fresh_site / "ccdphot" / "wrappers" / "sextractor.py"
    assert Path(found["sex"]) == fresh_site / "ccdphot" / "default_params" / "sextractor" / \
        "ccdphot.sex"
    default_params = ROOT / "default_params"
    assert found["sex_text"] == (default_params / "sextractor" / "ccdphot.sex").read_text()
    assert found["conv_text"] == (default_params / "sextractor" / "default.conv").read_text()
    assert found["psets"] is True
    assert found["profiles"] == sorted(p.name for p in (default_params / "profiles").iterdir())
    assert found["detect_thresh_sigma"] == 1.5
    # the console script: declared, and written for the new environment's interpreter
    assert found["scripts"] == {"ccdphot": "ccdphot.cli.main:main"}
    script = (venv / "bin" / "ccdphot").read_text().splitlines()
    assert str(python) in "\n".join(script[:2]) and "from ccdphot.cli.main import main" in script
