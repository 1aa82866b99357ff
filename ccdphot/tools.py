"""Registry of the external tools: resolve each command, detect its version once.

A tool is known by its registry name (``sextractor``, ``scamp``, ``iraf``, ...)
and described by a ``[tools.<name>]`` table of the config. Resolving finds the
executable, runs the version probe once per process and checks the minimum
version, so that a missing or outdated tool fails before any work is done, with
a message that says how to install it or point the config at another binary.
"""

import logging
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from ccdphot.errors import ConfigError, ToolNotFoundError
from ccdphot.wrappers.session import SessionPool

log = logging.getLogger(__name__)

_VERSION_PROBE_TIMEOUT_S = 30
PYTHON_TOKEN = "{python}"


@dataclass(frozen=True)
class ResolvedTool:
    """A tool ready to run: its argv prefix, executable path and version."""

    name: str
    label: str
    argv: tuple
    executable: str
    version: str
    timeout_s: float
    spec: dict = field(repr=False, compare=False)
    # The tool's persistent sessions (wrappers.session.SessionPool), or None: one process a job
    session: Any = field(default=None, repr=False, compare=False)

    def record(self):
        """What run.json keeps of this tool."""
        return {"label": self.label, "argv": list(self.argv), "executable": self.executable,
                "version": self.version}


def _spec(config, name):
    tools = config["tools"]
    if name not in tools:
        raise ConfigError(f"no [tools.{name}] table in the configuration; known tools: "
                          f"{', '.join(tools)}")
    spec = tools[name]
    command = list(spec["command"])
    if not command or not all(isinstance(part, str) and part for part in command):
        raise ConfigError(f"[tools.{name}] command must be a non-empty list of strings, "
                          f"got {command!r}")
    # "{python}" is the interpreter running ccdphot (for Python tool workers, e.g. PyRAF)
    return spec, [sys.executable if part == PYTHON_TOKEN else part for part in command]


def find_executable(command):
    """Path of ``command``: on PATH, else in the bin directory of the running Python.

    The second place finds tools that setup built into the virtual environment
    (e.g. ``.venv/bin/vartools``) when ccdphot runs as ``.venv/bin/ccdphot``
    without the environment being activated.
    """
    return (shutil.which(command)
            or shutil.which(command, path=str(Path(sys.executable).parent)))


def _not_found(name, spec, command, why):
    return ToolNotFoundError(
        spec.get("label", name),
        f"{why}. Install it ({spec.get('install_hint', 'see its documentation')}) "
        f"or set `command` in [tools.{name}] of your config to the executable to use "
        f"(looked for {command!r})",
    )


# (probe argv, version regex) -> version found, once per process. A probe that found
# no version (it timed out on a busy machine, or the tool crashed) is not kept: a
# long-lived batch worker would otherwise fail every later frame for one bad start.
_FOUND_VERSIONS = {}


def _probe_output(argv, timeout_s):
    """stdout+stderr of one version-probe command.

    Run in a scratch directory: a probe must never leave files where ccdphot
    was started. '' when the command cannot run or times out.
    """
    try:
        with tempfile.TemporaryDirectory(prefix="ccdphot-probe-") as scratch:
            done = subprocess.run(list(argv), cwd=scratch, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, errors="replace",
                                  check=False, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout + "\n" + done.stderr


def probe_version(spec, argv):
    """Run the version probe of a tool (or read its version file); '' if unknown."""
    regex = re.compile(spec.get("version_regex", r"([0-9]+\.[0-9.]+)"), re.MULTILINE)
    version_file = spec.get("version_file", "")
    if version_file:
        try:
            text = Path(version_file).read_text(errors="replace")
        except OSError:
            text = ""
        match = regex.search(text)
        return match.group(1).rstrip(".") if match else ""
    probe = (*argv, *spec.get("version_args", []))
    key = (probe, regex.pattern)
    if key not in _FOUND_VERSIONS:
        timeout_s = min(_VERSION_PROBE_TIMEOUT_S, float(spec.get("timeout_s", 600)))
        match = regex.search(_probe_output(probe, timeout_s))
        if not match:
            return ""
        _FOUND_VERSIONS[key] = match.group(1).rstrip(".")
    return _FOUND_VERSIONS[key]


class ToolRegistry:
    """Resolves tools from a config and remembers which ones a run used.

    With ``sessions=True`` a tool whose config says ``persistent = true``
    (IRAF) runs its jobs in long-lived session processes
    (:mod:`ccdphot.wrappers.session`) that live until :meth:`close` (or the end
    of a ``with`` block); the owner of such a registry (``ccdphot run``, a
    batch worker) closes it. Without, every job starts the tool afresh.
    """

    def __init__(self, config, sessions=False, _resolved=None, _pools=None):
        self.config = config
        self._resolved = {} if _resolved is None else _resolved
        self._pools = ({} if sessions else None) if _pools is None else _pools
        self.used = {}

    def for_frame(self):
        """A registry for one frame: the same resolved tools and sessions, its own
        record of use.

        Resolving (and the version probe) is done once per process; ``used`` is
        per frame, so each frame's run.json lists exactly the tools it ran.
        """
        return ToolRegistry(self.config, _resolved=self._resolved, _pools=self._pools)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Stop the sessions this registry started (its frames' registries share them)."""
        for name, pool in list((self._pools or {}).items()):
            pool.close()
            self._resolved.pop(name, None)
            del self._pools[name]

    def names(self):
        return list(self.config["tools"])

    def resolve(self, name):
        """Return the :class:`ResolvedTool` for ``name`` or raise ToolNotFoundError."""
        if name in self._resolved:
            return self._resolved[name]
        spec, command = _spec(self.config, name)
        executable = find_executable(command[0])
        if executable is None:
            raise _not_found(name, spec, command, f"'{command[0]}' not found on PATH nor "
                             "beside the Python running ccdphot")
        version = probe_version(spec, [executable, *command[1:]])
        if spec.get("version_required", False) and not version:
            raise _not_found(name, spec, command, "its version probe found no version "
                             "(the tool is not usable)")
        minimum = spec.get("min_version", "")
        if minimum and version:
            try:
                too_old = Version(version) < Version(minimum)
            except InvalidVersion:
                too_old = False
            if too_old:
                raise _not_found(name, spec, command,
                                 f"version {version} is older than the minimum {minimum}")
        tool = ResolvedTool(name=name, label=spec.get("label", name), argv=tuple(command),
                            executable=executable, version=version or "unknown",
                            timeout_s=float(spec.get("timeout_s", 600)), spec=spec)
        if self._pools is not None and spec.get("persistent", False):
            tool = replace(tool, session=self._pools.setdefault(name, SessionPool(tool)))
        self._resolved[name] = tool
        log.debug("tool %s resolved: %s (version %s)", name, executable, tool.version)
        return tool

    def use(self, name):
        """Resolve ``name`` and record it as used by this run."""
        tool = self.resolve(name)
        self.used[name] = tool.record()
        return tool

    def status(self):
        """One row per configured tool for ``ccdphot tools``: dicts with a status."""
        rows = []
        for name in self.names():
            spec, command = _spec(self.config, name)
            row = {"name": name, "label": spec.get("label", name), "argv": command,
                   "required": bool(spec.get("required", False)),
                   "install_hint": spec.get("install_hint", "")}
            try:
                tool = self.resolve(name)
            except ToolNotFoundError as err:
                row.update(status="missing", version="", executable="", problem=str(err))
            else:
                row.update(status="OK", version=tool.version, executable=tool.executable,
                           problem="")
            rows.append(row)
        return rows
