"""Effective configuration: built-in TOML defaults, a user TOML file, overrides.

The defaults live in ``default_params/ccdphot.toml`` (package data). A user file
may set any key the defaults have; an unknown key or a value of the wrong type is
an error naming the key, because a silently ignored typo gives silently wrong
photometry. Tables that are empty in the defaults (e.g. ``[detect.sextractor]``)
are open: any key is passed through to the tool. The merged result is frozen for
the duration of a run.

Two environment variables move what a container keeps in volumes (see
docs/docker.rst): ``CCDPHOT_CONFIG_DIR`` is a folder whose ``ccdphot.toml``, when
present, is the user file of every run without ``--config``; ``CCDPHOT_CACHE_DIR``
replaces the default cache root ``~/.cache/ccdphot`` (the catalogue cache is its
``catalogs/`` folder; a user file's ``[catalogs] cache_dir`` still wins).
"""

import copy
import hashlib
import json
import os
import sys
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from ccdphot.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

__all__ = ["load_config", "default_config", "thaw", "config_to_toml", "parse_override",
           "read_toml", "config_sha256", "user_config_file", "CONFIG_DIR_ENV", "CACHE_DIR_ENV"]

CONFIG_DIR_ENV = "CCDPHOT_CONFIG_DIR"
CACHE_DIR_ENV = "CCDPHOT_CACHE_DIR"
USER_CONFIG_NAME = "ccdphot.toml"
# Keys whose default is "auto" that also take a value of one other type.
_AUTO_OR = {"detect.crowded.enabled": (bool, "true or false"),
            "psf.passes": (int, "a number of passes (1 = no residual pass)")}


def read_toml(text, origin):
    """Parse TOML text; a syntax error is a ConfigError naming ``origin``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{origin}: not valid TOML ({err}); fix the file") from err


def default_config():
    """Return the built-in defaults as a plain (mutable) dict, cache root from the environment."""
    text = resources.files("ccdphot.default_params").joinpath("ccdphot.toml").read_text()
    config = read_toml(text, "built-in default_params/ccdphot.toml")
    cache_root = os.environ.get(CACHE_DIR_ENV)
    if cache_root:
        config["catalogs"]["cache_dir"] = str(Path(cache_root) / "catalogs")
    return config


def user_config_file():
    """``$CCDPHOT_CONFIG_DIR/ccdphot.toml`` when it exists, else None.

    A variable naming a folder that does not exist is a ConfigError: a mistyped
    volume path would otherwise run silently with the defaults.
    """
    folder = os.environ.get(CONFIG_DIR_ENV)
    if not folder:
        return None
    if not Path(folder).is_dir():
        raise ConfigError(f"{CONFIG_DIR_ENV}={folder}: no such folder; create it (it may hold "
                          f"{USER_CONFIG_NAME}) or unset the variable")
    path = Path(folder) / USER_CONFIG_NAME
    return path if path.is_file() else None


def _same_kind(default, value):
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def _merge(base, update, origin, path=""):
    """Merge ``update`` into ``base`` in place, checking keys and types against it."""
    for key, value in update.items():
        dotted = f"{path}{key}"
        if key not in base:
            known = ", ".join(sorted(base)) or "none"
            raise ConfigError(
                f"{origin}: unknown configuration key '{dotted}' (known keys here: {known})"
            )
        default = base[key]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{origin}: '{dotted}' must be a table, got {value!r}")
            if default == {}:
                base[key] = copy.deepcopy(value)
            else:
                _merge(default, value, origin, dotted + ".")
        elif dotted in _AUTO_OR:
            kind, what = _AUTO_OR[dotted]
            if value != "auto" and not (_same_kind(kind(), value) and isinstance(value, kind)):
                raise ConfigError(f'{origin}: \'{dotted}\' must be "auto" or {what}, '
                                  f"got {value!r}")
            base[key] = value
        elif default is not None and not _same_kind(default, value):
            raise ConfigError(
                f"{origin}: '{dotted}' must be of type {type(default).__name__} "
                f"like the default {default!r}, got {value!r}"
            )
        else:
            base[key] = copy.deepcopy(value)


def parse_override(text):
    """Parse ``section.key=value`` (value in TOML syntax, bare words as strings)."""
    if "=" not in text:
        raise ConfigError(f"option '{text}' must look like section.key=value")
    dotted, raw = text.split("=", 1)
    dotted = dotted.strip()
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    table = node = {}
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return table


def _freeze(value):
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def thaw(config):
    """Return a plain, JSON-serialisable copy of a frozen config."""
    if isinstance(config, (dict, MappingProxyType)):
        return {k: thaw(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [thaw(v) for v in config]
    return config


def load_config(path=None, overrides=(), data=None):
    """Return the frozen effective config.

    ``path`` is a user TOML file (default: :func:`user_config_file`), ``data`` a
    dict of the same shape (Python API), ``overrides`` a sequence of dicts applied
    last (command-line options).
    """
    config = default_config()
    if path is None:
        path = user_config_file()
    if path is not None:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as err:
            raise ConfigError(f"cannot read config file {path}: {err.strerror}") from err
        _merge(config, read_toml(text, str(path)), str(path))
    if data:
        _merge(config, thaw(data), "config given to ccdphot.run")
    for override in overrides:
        _merge(config, override, "command-line option")
    return _freeze(config)


def config_sha256(config):
    """SHA-256 of a config's canonical JSON: equal for equal settings, whatever their order.

    Stored in run.json; a batch resumes (skips) a frame only when it matches.
    """
    text = json.dumps(thaw(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def config_to_toml(config):
    """Render a config as TOML text (for ``ccdphot config``)."""
    import tomli_w

    return tomli_w.dumps(json.loads(json.dumps(thaw(config))))
