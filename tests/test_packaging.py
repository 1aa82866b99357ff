"""The one apt list feeds setup.sh, CI and the Dockerfile; the layout installs."""

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
