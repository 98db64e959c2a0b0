"""The equipment's firmware version: from the settings, or read from a file or a command named
in them (`firmware_file`, `firmware_command`), at start and again on SIGHUP.

Every event carries the version it was recorded under in its own stored body, so a change
never relabels events already buffered: only events recorded after the new version was read
carry it (docs/agent.md, Firmware changes).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Protocol

from agent.errors import ConfigError
from shared import limits as L

COMMAND_TIMEOUT_S = 10.0
MAX_READ_BYTES = 4096
_NAME = re.compile(L.NAME_PATTERN)


class FirmwareSource(Protocol):
    @property
    def firmware_version(self) -> str | None: ...
    @property
    def firmware_file(self) -> Path | None: ...
    @property
    def firmware_command(self) -> str | list[str] | None: ...


def has_source(s: FirmwareSource) -> bool:
    return s.firmware_file is not None or s.firmware_command is not None


def read_source(s: FirmwareSource) -> str:
    """(Blocking.) The version the file or the command says now: its first non-blank line,
    stripped. ConfigError (naming the source) if it cannot be read or is not a valid name."""
    if s.firmware_file is not None:
        where = f"firmware_file {s.firmware_file}"
        try:
            with open(s.firmware_file, "rb") as fh:
                raw = fh.read(MAX_READ_BYTES)
        except OSError as exc:
            raise ConfigError(f"{where}: {exc.strerror or exc}") from exc
    elif s.firmware_command is not None:
        cmd = s.firmware_command
        argv = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
        where = f"firmware_command {shlex.join(argv)}"
        try:
            done = subprocess.run(  # the operator's own command, no shell
                argv, capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        if done.returncode != 0:
            err = done.stderr.decode(errors="replace").strip()[:200]
            raise ConfigError(f"{where}: exit status {done.returncode} {err}".rstrip())
        raw = done.stdout[:MAX_READ_BYTES]
    else:
        raise ConfigError("neither firmware_file nor firmware_command is set")
    text = raw.decode("utf-8", errors="replace")
    version = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not _NAME.fullmatch(version):
        raise ConfigError(f"{where}: not a firmware version (pattern {L.NAME_PATTERN}): "
                          f"{version[:80]!r}")  # fmt: skip
    return version


def initial(s: FirmwareSource) -> tuple[str, str | None]:
    """(Blocking.) The version to start with, and a warning if the source could not be read
    and the configured `firmware_version` stands in for it. ConfigError if there is neither."""
    if not has_source(s):
        if s.firmware_version is None:
            raise ConfigError("firmware_version: required (or firmware_file / firmware_command)")
        return s.firmware_version, None
    try:
        return read_source(s), None
    except ConfigError as exc:
        if s.firmware_version is None:
            raise
        return s.firmware_version, f"{exc}; using firmware_version {s.firmware_version!r}"
