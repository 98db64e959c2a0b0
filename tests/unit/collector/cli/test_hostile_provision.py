"""`pes-collector provision-device | provision-collector`: password and ACL files, idempotence,
names that would break the broker's files, and config snippets that parse back."""

from __future__ import annotations

import base64
import io
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from agent.settings import load_settings as load_agent_settings
from collector.cli import provision as P
from collector.cli.main import main as collector_cli
from collector.errors import ConfigError

REPO = Path(__file__).resolve().parents[4]
SHIPPED_ACL = REPO / "deploy" / "mosquitto" / "pes.acl"
HAS_MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") is not None


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = collector_cli(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_hash_is_the_pbkdf2_format_mosquitto_checks() -> None:
    stored = P.hash_password("s3cret", salt=b"0123456789ab")
    assert stored.startswith("$7$101$MDEyMzQ1Njc4OWFi$")
    assert P.check_password("s3cret", stored)
    assert not P.check_password("s3cret ", stored)
    assert not P.check_password("s3cret", "$6$abc$def")


@pytest.mark.skipif(not HAS_MOSQUITTO_PASSWD, reason="mosquitto_passwd not installed")
def test_builtin_hash_agrees_with_mosquitto_passwd(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(f), "dev", "pässword:with$odd"], check=True)
    stored = P.read_password_file(f)["dev"]
    salt = base64.b64decode(stored.split("$")[3])
    assert P.hash_password("pässword:with$odd", salt=salt) == stored
    assert P.check_password("pässword:with$odd", stored)


@pytest.mark.parametrize("hasher", ["builtin", "mosquitto_passwd"])
def test_set_password_replaces_only_that_users_line(tmp_path: Path, hasher: str) -> None:
    if hasher == "mosquitto_passwd" and not HAS_MOSQUITTO_PASSWD:
        pytest.skip("mosquitto_passwd not installed")
    f = tmp_path / "sub" / "pes.passwd"
    assert P.set_password(f, "gw-1", "one", hasher=hasher) == hasher
    assert stat.S_IMODE(f.stat().st_mode) == 0o640
    P.set_password(f, "gw-2", "two", hasher=hasher)
    P.set_password(f, "gw-1", "uno", hasher=hasher)
    users = P.read_password_file(f)
    assert sorted(users) == ["gw-1", "gw-2"]
    assert P.check_password("uno", users["gw-1"]) and P.check_password("two", users["gw-2"])
    assert not P.check_password("one", users["gw-1"])


def test_set_password_keeps_mode_of_an_existing_file(tmp_path: Path) -> None:
    f = tmp_path / "pes.passwd"
    f.write_text("other:$7$101$x$y\n")
    f.chmod(0o600)
    P.set_password(f, "gw-1", "pw", hasher="builtin")
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert f.read_text().startswith("other:$7$101$x$y\ngw-1:$7$")


def test_missing_mosquitto_passwd_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _: None)  # the module provision.py calls
    with pytest.raises(ConfigError, match="mosquitto_passwd not found"):
        P.set_password(tmp_path / "pw", "gw-1", "x", hasher="mosquitto_passwd")
    assert P.set_password(tmp_path / "pw", "gw-1", "x", hasher="auto") == "builtin"


def test_acl_of_the_shipped_file_is_complete(tmp_path: Path) -> None:
    acl = tmp_path / "pes.acl"
    shutil.copyfile(SHIPPED_ACL, acl)
    assert P.ensure_acl(acl, device_patterns=True, collector_user=P.COLLECTOR_USER) == []
    assert acl.read_text() == SHIPPED_ACL.read_text()


def test_acl_is_created_then_left_alone(tmp_path: Path) -> None:
    acl = tmp_path / "new.acl"
    added = P.ensure_acl(acl, device_patterns=True, collector_user=None)
    assert added == list(P.DEVICE_ACL)
    assert stat.S_IMODE(acl.stat().st_mode) == 0o640
    added = P.ensure_acl(acl, device_patterns=True, collector_user=P.COLLECTOR_USER)
    assert added == [f"user {P.COLLECTOR_USER}", *P.COLLECTOR_ACL]
    text = acl.read_text()
    assert P.ensure_acl(acl, device_patterns=True, collector_user=P.COLLECTOR_USER) == []
    assert acl.read_text() == text
    # The same lines as the shipped file, whatever the comments.
    assert _rules(text) == _rules(SHIPPED_ACL.read_text())


def test_collector_topics_under_another_user_do_not_count(tmp_path: Path) -> None:
    acl = tmp_path / "pes.acl"
    acl.write_text("user someone-else\n" + "".join(f"{t}\n" for t in P.COLLECTOR_ACL))
    added = P.ensure_acl(acl, device_patterns=False, collector_user=P.COLLECTOR_USER)
    assert added == [f"user {P.COLLECTOR_USER}", *P.COLLECTOR_ACL]
    acl.write_text("pattern  write   pes/v1/dev/%u/events")  # no newline, odd spacing
    added = P.ensure_acl(acl, device_patterns=True, collector_user=None)
    assert added == list(P.DEVICE_ACL[1:])
    assert acl.read_text().splitlines()[1].startswith("#")


def _rules(text: str) -> set[tuple[str | None, str]]:
    user, out = None, set()
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "user":
            user = words[1]
        else:
            out.add((None if words[0] == "pattern" else user, " ".join(words)))
    return out


@pytest.mark.parametrize(
    "name",
    ["", "gw:1", "pes-collector", "+", "#", "gw/1", "gw 1", " gw", "_gw", ".gw", "x" * 65, "gw-ü",
     "gw\n1", "gw\x00", "gw‮1"],
)  # fmt: skip
def test_device_names_that_would_break_the_broker_files_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    pw, acl = tmp_path / "pw", tmp_path / "acl"
    code, out, err = run(capsys, "provision-device", name, "--passwd", str(pw), "--acl", str(acl))
    assert (code, out) == (2, "")
    assert err.startswith("pes-collector: ")
    assert not pw.exists() and not acl.exists()


@pytest.mark.parametrize("password", ["a\nb", "tab\there", "\x7f", "nul\x00"])
def test_passwords_with_control_characters_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], password: str
) -> None:
    pw, acl = tmp_path / "pw", tmp_path / "acl"
    args = ("--passwd", str(pw), "--acl", str(acl), "--password", password)
    assert run(capsys, "provision-device", "gw-1", *args)[0] == 2
    assert not pw.exists()


def test_generated_password_is_printed_once_and_stored_hashed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pw, acl = tmp_path / "pw", tmp_path / "acl"
    args = ("--passwd", str(pw), "--acl", str(acl), "--hasher", "builtin")
    code, out, err = run(capsys, "provision-device", "gw-000123", *args)
    assert code == 0
    password = out.strip()
    assert out == password + "\n" and len(password) >= 32
    assert password not in pw.read_text() and password not in err
    assert P.check_password(password, P.read_password_file(pw)["gw-000123"])
    assert "reload mosquitto" in err
    _, again, _ = run(capsys, "provision-device", "gw-000123", *args)
    assert again.strip() != password


def test_password_from_stdin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("from stdin\n"))
    pw, acl = tmp_path / "pw", tmp_path / "acl"
    args = ("--passwd", str(pw), "--acl", str(acl), "--password", "-", "--hasher", "builtin")
    code, out, _ = run(capsys, "provision-collector", *args)
    assert (code, out) == (0, "from stdin\n")
    assert P.check_password("from stdin", P.read_password_file(pw)[P.COLLECTOR_USER])


@pytest.mark.parametrize("password", ['quo"te\\back', "ünï €", "😀 emoji", "x" * 200])
def test_agent_config_snippet_loads_as_agent_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], password: str
) -> None:
    pw, acl, ca = tmp_path / "pw", tmp_path / "acl", tmp_path / "ca.crt"
    ca.write_text("(a CA certificate)")
    code, out, _ = run(
        capsys, "provision-device", "gw-7", "--passwd", str(pw), "--acl", str(acl),
        "--password", password, "--hasher", "builtin", "--agent-config", "--ca-file", str(ca),
        "--host", "mqtt.example.net", "--device-type", "press x/2", "--firmware-version", "4.2",
        "--account-id", "acme",
    )  # fmt: skip
    assert code == 0
    doc = tomllib.loads(out)
    assert doc["mqtt"]["password"] == password
    conf = tmp_path / "agent.toml"
    conf.write_text(out)
    s = load_agent_settings(conf, buffer_path=tmp_path / "b.db")
    assert (s.device_id, s.mqtt.username, s.mqtt.tls, s.mqtt.port) == ("gw-7", "gw-7", True, 8883)
    assert s.mqtt.password is not None and s.mqtt.password.get_secret_value() == password
    assert P.check_password(password, P.read_password_file(pw)["gw-7"])


def test_agent_snippet_without_identity_leaves_the_required_keys_to_fill_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pw, acl = tmp_path / "pw", tmp_path / "acl"
    args = ("--passwd", str(pw), "--acl", str(acl), "--agent-config", "--hasher", "builtin")
    code, out, _ = run(capsys, "provision-device", "gw-8", *args)
    assert code == 0
    assert '# device_type = "..."' in out
    assert tomllib.loads(out)["device_id"] == "gw-8"


def test_collector_config_snippet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pw, acl = tmp_path / "pw", tmp_path / "acl"
    args = ("--passwd", str(pw), "--acl", str(acl), "--collector-config", "--hasher", "builtin")
    code, out, _ = run(capsys, "provision-collector", *args)
    assert code == 0
    mqtt = tomllib.loads(out)["mqtt"]
    assert (mqtt["username"], mqtt["host"], mqtt["port"]) == (P.COLLECTOR_USER, "127.0.0.1", 1883)
    assert P.check_password(mqtt["password"], P.read_password_file(pw)[P.COLLECTOR_USER])
    assert ("user pes-collector") in acl.read_text()
