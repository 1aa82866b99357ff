"""Configuration: defaults, user files, overrides, strictness, printing."""

import pytest

from ccdphot.config import config_to_toml, load_config, parse_override, thaw
from ccdphot.errors import ConfigError


def test_defaults_have_every_step_and_tool_table():
    config = load_config()
    assert list(config["run"]["steps"])[-1] == "write"
    for name in ("sextractor", "scamp", "psfex", "swarp", "imwcs", "solve_field", "iraf"):
        assert config["tools"][name]["command"], name


def test_user_file_overrides_and_keeps_other_defaults(tmp_path):
    user = tmp_path / "my config.toml"
    user.write_text('[detect]\ndetect_thresh_sigma = 3\n'
                    '[tools.sextractor]\ncommand = ["sex"]\n'
                    '[detect.sextractor]\nDEBLEND_MINCONT = 0.001\n')
    config = load_config(path=user)
    assert config["detect"]["detect_thresh_sigma"] == 3
    assert list(config["tools"]["sextractor"]["command"]) == ["sex"]
    assert config["tools"]["sextractor"]["version_args"] == ("-v",)
    assert config["detect"]["sextractor"]["DEBLEND_MINCONT"] == 0.001
    assert config["detect"]["detect_minarea_pix"] == load_config()["detect"]["detect_minarea_pix"]


def test_unknown_key_is_an_error_naming_it(tmp_path):
    user = tmp_path / "c.toml"
    user.write_text("[detect]\ndetect_treshold = 3\n")
    with pytest.raises(ConfigError, match=r"detect\.detect_treshold"):
        load_config(path=user)


def test_wrong_type_is_an_error(tmp_path):
    user = tmp_path / "c.toml"
    user.write_text('[tools.sextractor]\ncommand = "source-extractor"\n')
    with pytest.raises(ConfigError, match="tools.sextractor.command"):
        load_config(path=user)


def test_malformed_toml_names_the_file(tmp_path):
    user = tmp_path / "broken.toml"
    user.write_text("[detect\n")
    with pytest.raises(ConfigError, match="broken.toml: not valid TOML"):
        load_config(path=user)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(path=tmp_path / "nope.toml")


def test_config_is_frozen():
    config = load_config()
    with pytest.raises(TypeError):
        config["detect"]["detect_thresh_sigma"] = 9


def test_command_line_override_parsing():
    assert parse_override("detect.detect_thresh_sigma=2.5") == {
        "detect": {"detect_thresh_sigma": 2.5}}
    assert parse_override('tools.sextractor.command=["sex"]') == {
        "tools": {"sextractor": {"command": ["sex"]}}}
    assert parse_override("run.output_dir=my results") == {"run": {"output_dir": "my results"}}
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_override("detect")


def test_printed_config_round_trips(tmp_path):
    config = load_config(overrides=[parse_override("detect.detect_thresh_sigma=4.0")])
    text = config_to_toml(config)
    saved = tmp_path / "effective.toml"
    saved.write_text(text)
    assert thaw(load_config(path=saved)) == thaw(config)


def test_environment_moves_the_user_file_and_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CCDPHOT_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("CCDPHOT_CACHE_DIR", str(tmp_path / "cache"))
    assert load_config()["catalogs"]["cache_dir"] == str(tmp_path / "cache" / "catalogs")
    (tmp_path / "ccdphot.toml").write_text('[catalogs]\noffline = true\n')
    assert load_config()["catalogs"]["offline"] is True
    explicit = tmp_path / "other.toml"
    explicit.write_text('[catalogs]\ncache_dir = "elsewhere"\n')
    config = load_config(path=explicit)  # --config replaces the folder's file
    assert config["catalogs"]["offline"] is False
    assert config["catalogs"]["cache_dir"] == "elsewhere"


def test_config_dir_variable_naming_no_folder_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CCDPHOT_CONFIG_DIR", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="CCDPHOT_CONFIG_DIR=.*missing: no such folder"):
        load_config()
