"""The apt list names the tools; the layout installs (the Dockerfile: test_container_files)."""

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
