"""The Dockerfile, apt-packages.txt, constraints.txt and setup.sh agree.

One apt list and one set of pinned Python dependencies serve the local install,
CI and the image; these tests read the files (no image is built: that is
docker/check.sh, run on demand).
"""

import configparser
import re
import shlex
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ccdphot.config import CACHE_DIR_ENV, CONFIG_DIR_ENV

ROOT = Path(__file__).parent.parent
BUILD_TAG = re.compile(r"#\s*build\b")
COMPILERS = {"gcc", "make", "gfortran", "python3-dev", "python3-venv", "python3-pip"}


def apt_lines():
    """(package, build_only) for every package line of apt-packages.txt."""
    lines = []
    for line in (ROOT / "apt-packages.txt").read_text().splitlines():
        package = line.split("#", 1)[0].strip()
        if package:
            lines.append((package, bool(BUILD_TAG.search(line))))
    return lines


def dockerfile_stages():
    """Stage name -> its instructions (continuation lines joined)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages, current = {}, None
    for line in text.splitlines():
        line = " ".join(line.split())
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            current = line.split()[-1]
            stages[current] = []
        elif current:
            stages[current].append(line)
    return stages


def constraints():
    """Pinned name -> version, and the Python version the file was made with."""
    text = (ROOT / "constraints.txt").read_text()
    python = re.search(r"with Python (\d+\.\d+)", text)
    pins = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version and " " not in line, f"not a plain pin: {line}"
            pins[canonicalize_name(name)] = version
    return pins, python and python[1]


def install_requires():
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    return [Requirement(line) for line in setup["options"]["install_requires"].splitlines()
            if line.strip()]


def test_run_stage_gets_the_tools_and_no_compiler():
    run = {package for package, build in apt_lines() if not build}
    for tool in ("source-extractor", "scamp", "psfex", "swarp", "wcstools", "iraf",
                 "iraf-noao", "astrometry.net", "python3"):
        assert tool in run, tool
    for package in run:
        assert package not in COMPILERS and not package.endswith("-dev"), (
            f"{package} is needed only to build: tag its line '# build' in apt-packages.txt")


def test_every_apt_install_reads_the_one_list():
    stages = dockerfile_stages()
    assert set(stages) >= {"base", "build", "run"}
    base = " ".join(stages["base"])
    assert "COPY apt-packages.txt /tmp/apt-packages.txt" in base
    installs = {name: [i for i in body if "apt-get install" in i] for name, body in stages.items()}
    assert installs["base"] == []
    for name, expect_filter in (("build", False), ("run", True)):
        [install] = installs[name]
        assert "/tmp/apt-packages.txt" in install and "| xargs apt-get install" in install, name
        assert ("grep -v -E '#[[:space:]]*build'" in install) is expect_filter, name
        assert "grep -v -E '#[[:space:]]*test'" in install, name  # tests' packages stay out
    setup = (ROOT / "setup.sh").read_text()
    assert "apt-packages.txt" in setup and setup.count("apt-get install") == 1
    assert "bash setup.sh test" in (ROOT / ".ci" / "run").read_text()


def test_every_dependency_is_pinned_and_the_pin_satisfies_setup_cfg():
    pins, python = constraints()
    assert python, "constraints.txt must say which Python made it"
    environment = {"python_version": python, "python_full_version": python + ".0"}
    for requirement in install_requires():
        if requirement.marker and not requirement.marker.evaluate(environment):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, (f"{requirement.name} is not in constraints.txt: run "
                              "`bash tools/update_constraints.sh`")
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, setup.cfg asks {requirement}")
    assert "ccdphot" not in pins


def test_image_and_setup_install_under_the_constraints():
    build = " ".join(dockerfile_stages()["build"])
    assert "COPY constraints.txt" in build
    assert "pip install -r /src/ccdphot/constraints.txt" in build
    assert ("pip install --no-deps /src/ccdphot && pip uninstall -q -y setuptools "
            "&& pip check") in build
    assert "bash /src/ccdphot/tools/build_vartools.sh /opt/ccdphot/bin/vartools" in build
    setup = (ROOT / "setup.sh").read_text()
    assert "-c constraints.txt" in setup
    assert re.search(r"cat setup\.cfg pyproject\.toml constraints\.txt", setup), (
        "setup.sh must reinstall when constraints.txt changes")


def test_image_runs_as_a_user_with_the_documented_volumes():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=debian:bookworm-slim$", text, re.M)
    run = " ".join(dockerfile_stages()["run"])
    assert "COPY --from=build /opt/ccdphot /opt/ccdphot" in run
    assert re.search(r"\bUSER ccdphot\b", run) and "WORKDIR /data" in run
    assert 'VOLUME ["/cache", "/config"]' in run
    assert f"{CACHE_DIR_ENV}=/cache" in run and f"{CONFIG_DIR_ENV}=/config" in run
    assert "chmod 1777 /home/ccdphot /data /cache /config" in run  # any --user uid
    assert 'ENTRYPOINT ["ccdphot-entrypoint"]' in run


def _demo_argv(text, after):
    line = text[text.index(after) + len(after):].replace("\\\n", " ")
    return shlex.split(line.split('"$@"')[0].split(")")[0])


def test_check_script_runs_the_setup_demo_in_the_image():
    setup = _demo_argv((ROOT / "setup.sh").read_text(), "demo) exec .venv/bin/ccdphot ")
    check = _demo_argv((ROOT / "docker" / "check.sh").read_text(), "demo=(")
    assert setup == check and setup[0] == "run"


def test_vendor_folder_is_ignored_but_documented():
    ignore = (ROOT / ".gitignore").read_text().splitlines()
    assert "docker/vendor/*" in ignore and "!docker/vendor/README.md" in ignore
    assert (ROOT / "docker" / "vendor" / "README.md").is_file()


def test_build_stage_removes_only_build_files():
    build = " ".join(dockerfile_stages()["build"])
    assert "COPY docker/remove-test-suites.sh docker/remove-build-files.sh /tmp/" in build
    assert ("pip check && sh /tmp/remove-test-suites.sh /opt/ccdphot/lib "
            "&& sh /tmp/remove-build-files.sh /opt/ccdphot/lib") in build
    removed = re.findall(r"-name '([^']+)'", (ROOT / "docker" / "remove-build-files.sh").read_text())
    assert set(removed) == {"*.c", "*.cpp", "*.h", "*.hpp", "*.pyx", "*.pxd", "*.pxi", "*.a"}
    assert "-path '*/site-packages/pip/*' -name __pycache__" in (
        ROOT / "docker" / "remove-build-files.sh").read_text()  # only pip's bytecode


def test_no_jit_compiler_in_the_dependencies():
    """numba and llvmlite (190 MB) kept the image above 1 GB (docs/docker.rst)."""
    pins, _ = constraints()
    assert not {"numba", "llvmlite", "wotan"} & set(pins)
