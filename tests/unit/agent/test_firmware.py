"""Where the firmware version comes from: the settings, a file or a command (agent/firmware.py);
tests/integration/agent/test_firmware_change.py changes it under a running agent."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from agent import firmware as fw
from agent.errors import ConfigError
from agent.events import Factory, check_python
from agent.settings import AgentSettings


def settings(tmp_path: Path, **kw: Any) -> AgentSettings:
    values: dict[str, Any] = {"device_id": "gw-1", "device_type": "press-x",
                              "account_id": "acme", "buffer_path": tmp_path / "b.db"}  # fmt: skip
    return AgentSettings(**(values | kw))


def test_static_version_needs_no_source(tmp_path: Path) -> None:
    s = settings(tmp_path, firmware_version="2.1")
    assert fw.initial(s) == ("2.1", None)
    assert Factory(s).firmware_version == "2.1"


def test_file_first_non_blank_line_stripped(tmp_path: Path) -> None:
    f = tmp_path / "fw"
    f.write_text("\n  3.0.1-rc2  \nignored\n")
    s = settings(tmp_path, firmware_file=f)
    assert fw.read_source(s) == "3.0.1-rc2"
    assert fw.initial(s) == ("3.0.1-rc2", None)
    doc = Factory(s).build(check_python({"kind": "feature_use", "feature": "x"}))
    assert doc["firmware_version"] == "3.0.1-rc2"


def test_command_as_list_and_as_string(tmp_path: Path) -> None:
    code = "print('7.4')"
    assert (
        fw.read_source(settings(tmp_path, firmware_command=[sys.executable, "-c", code])) == "7.4"
    )
    line = f'{sys.executable} -c "print(\\"7.5 \\")"'
    assert fw.read_source(settings(tmp_path, firmware_command=line)) == "7.5"


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"firmware_file": Path("/nonexistent/fw")}, "firmware_file /nonexistent/fw"),
        ({"firmware_command": [sys.executable, "-c", "raise SystemExit(3)"]}, "exit status 3"),
        ({"firmware_command": ["/nonexistent/cmd"]}, "firmware_command"),
        ({"firmware_command": [sys.executable, "-c", "print('bad\\x01name')"]}, "not a firmware"),
        ({"firmware_command": [sys.executable, "-c", "pass"]}, "not a firmware"),
    ],
)
def test_unreadable_source_is_a_config_error(tmp_path: Path, kw: Any, match: str) -> None:
    s = settings(tmp_path, **kw)
    with pytest.raises(ConfigError, match=match):
        fw.read_source(s)
    with pytest.raises(ConfigError, match=match):  # no fallback: refuse to start
        fw.initial(s)
    version, warning = fw.initial(settings(tmp_path, firmware_version="1.0", **kw))
    assert version == "1.0" and warning is not None and "using firmware_version" in warning


def test_settings_refuse_no_version_and_two_sources(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="firmware_version is required"):
        settings(tmp_path)
    with pytest.raises(ValueError, match="not both"):
        settings(tmp_path, firmware_file=tmp_path / "f", firmware_command="echo 1")
