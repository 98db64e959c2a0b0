"""`pes-collector provision-device | provision-collector`: broker credentials and ACL entries.

Writes the Mosquitto password file (with `mosquitto_passwd -b` when it is installed, otherwise
the same PBKDF2-SHA512 `$7$` lines Mosquitto 2.0 writes and reads) and makes sure the ACL file
holds the lines that confine every device to `pes/v1/dev/<username>/` (deploy/mosquitto/pes.acl)
and let it read its remote configuration: the fleet's, its own and, with `--device-type`, that
type's (a `user <device_id>` section of its own). Only the collectors' login may write
configuration. Both are idempotent: running it again for a device replaces only that device's
password (and its type's line).

The new password is printed once, on stdout (or inside an agent/collector TOML snippet); nothing
else keeps it. Mosquitto rereads both files on `systemctl reload mosquitto` (SIGHUP).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import grp
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from collector.errors import ConfigError
from shared import limits as L
from shared.errors import PesError
from shared.topics import device_type_config_topic

COMMANDS = ("provision-device", "provision-collector")
COLLECTOR_USER = "pes-collector"
# What Mosquitto 2.0's mosquitto_passwd writes by default (-H sha512-pbkdf2): 12 bytes of salt,
# 101 iterations, "$7$<iterations>$<salt b64>$<hash b64>".
PBKDF2_ITERATIONS = 101
SALT_BYTES = 12
PASSWORD_BYTES = 24  # generated passwords: 32 URL-safe characters, 192 bits
# Device lines apply to every user (pattern lines ignore the `user` sections); %u = username.
DEVICE_ACL = (
    "pattern write pes/v1/dev/%u/events",
    "pattern readwrite pes/v1/dev/%u/status",
    "pattern read pes/v1/dev/%u/ack",
    # Remote configuration (shared/topics.py): its own and the fleet's, read only.
    "pattern read pes/v1/dev/%u/config",
    "pattern read pes/v1/config/fleet",
)
COLLECTOR_ACL = (
    "topic read pes/v1/dev/+/events",
    "topic read pes/v1/dev/+/status",
    "topic write pes/v1/dev/+/ack",
    # Remote configuration: only the collectors write it (and read it back: agents config).
    "topic readwrite pes/v1/dev/+/config",
    "topic readwrite pes/v1/config/#",
)
# A device type's configuration is readable by the devices provisioned with that type: a
# `user <device_id>` section of its own (the broker cannot know a device's type otherwise).
TYPE_CONFIG_PREFIX = "topic read pes/v1/config/type/"
_ID = re.compile(L.ID_PATTERN)
_NAME = re.compile(L.NAME_PATTERN)


# -- password file ---------------------------------------------------------------------------
def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """The `$7$` (PBKDF2-HMAC-SHA512) hash Mosquitto 2.0 stores for `password`."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    b64 = base64.b64encode
    return f"$7${PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    """Whether `password` matches a `$7$` hash (as Mosquitto checks it)."""
    parts = stored.split("$")
    if len(parts) != 5 or parts[1] != "7" or not parts[2].isdigit():
        return False
    salt, want = base64.b64decode(parts[3]), base64.b64decode(parts[4])
    got = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(parts[2]))
    return secrets.compare_digest(got, want)


def validate_username(username: str, *, device: bool) -> None:
    if not _ID.match(username):
        raise ConfigError(
            f"{username[:80]!r} is not a valid id: letters, digits and . _ : - (at most "
            f"{L.MAX_ID_LEN} characters), starting with a letter or digit"
        )
    if ":" in username:
        # The password file is "username:hash": Mosquitto cuts the line at the first colon.
        raise ConfigError(f"{username!r}: a broker username cannot contain ':'")
    if device and username == COLLECTOR_USER:
        raise ConfigError(f"{COLLECTOR_USER!r} is the collectors' login, not a device id")


def validate_password(password: str) -> None:
    if not password:
        raise ConfigError("the password is empty")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in password):
        raise ConfigError("the password contains a control character")


def set_password(passwd_file: Path, username: str, password: str, *, hasher: str = "auto") -> str:
    """Create or replace `username`'s line in `passwd_file`; return the hasher used.

    `hasher`: "mosquitto_passwd" (the broker's own tool), "builtin" (this module), or "auto"
    (the tool when installed). The file is created 0640, group mosquitto when that group exists."""
    validate_password(password)
    tool = shutil.which("mosquitto_passwd") if hasher in ("auto", "mosquitto_passwd") else None
    if hasher == "mosquitto_passwd" and tool is None:
        raise ConfigError("mosquitto_passwd not found: install mosquitto or use --hasher builtin")
    _create_private(passwd_file)
    if tool is not None:
        # Its -b takes the password as an argument (briefly visible in the process table to
        # other local users: on a shared host use --hasher builtin).
        done = subprocess.run(
            [tool, "-b", str(passwd_file), username, password],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise PesError(f"mosquitto_passwd failed: {(done.stderr or done.stdout).strip()}")
        return "mosquitto_passwd"
    lines = passwd_file.read_text(encoding="utf-8").splitlines()
    entry = f"{username}:{hash_password(password)}"
    kept = [ln for ln in lines if ln.split(":", 1)[0] != username]
    _replace(passwd_file, "".join(f"{ln}\n" for ln in [*kept, entry]))
    return "builtin"


def read_password_file(passwd_file: Path) -> dict[str, str]:
    """username -> stored hash."""
    out: dict[str, str] = {}
    for line in passwd_file.read_text(encoding="utf-8").splitlines():
        user, sep, stored = line.partition(":")
        if sep and not line.startswith("#"):
            out[user] = stored
    return out


# -- ACL file --------------------------------------------------------------------------------
def ensure_acl(acl_file: Path, *, device_patterns: bool, collector_user: str | None) -> list[str]:
    """Append whatever of the device patterns and/or the collector's topic lines is missing.

    Returns the lines added (none when the file already had them: idempotent)."""
    text = acl_file.read_text(encoding="utf-8") if acl_file.exists() else ""
    patterns: set[str] = set()
    topics: dict[str | None, set[str]] = {}
    user: str | None = None
    for raw in text.splitlines():
        words = raw.split()
        if not words or words[0].startswith("#"):
            continue
        line = " ".join(words)
        if words[0] == "user" and len(words) >= 2:
            user = raw.strip()[len("user") :].strip()
        elif words[0] == "pattern":
            patterns.add(line)
        elif words[0] == "topic":
            topics.setdefault(user, set()).add(line)
    added: list[str] = []
    if device_patterns:
        missing = [p for p in DEVICE_ACL if p not in patterns]
        if missing:
            added += ["# PES devices: each confined to pes/v1/dev/<its username>/", *missing]
    if collector_user is not None:
        have = topics.get(collector_user, set())
        missing = [t for t in COLLECTOR_ACL if t not in have]
        if missing:
            added += [f"user {collector_user}", *missing]
    if added:
        if not text:
            _create_private(acl_file)
        sep = "" if not text or text.endswith("\n") else "\n"
        _replace(acl_file, text + sep + "".join(f"{ln}\n" for ln in added))
    return [ln for ln in added if not ln.startswith("#")]


def set_device_type_acl(acl_file: Path, device_id: str, device_type: str) -> list[str]:
    """Let `device_id` read `device_type`'s configuration topic and no other type's: its own
    `user` section holds exactly one such line (replaced when the type changes). Returns the
    lines added (none when it was already so)."""
    want = f"{TYPE_CONFIG_PREFIX}{device_type_config_topic(device_type).rsplit('/', 1)[1]}"
    lines = acl_file.read_text(encoding="utf-8").splitlines()
    out: list[str] = []
    user: str | None = None
    had = False
    for raw in lines:
        words = raw.split()
        if words[:1] == ["user"]:
            user = raw.strip()[len("user") :].strip()
        elif user == device_id and " ".join(words).startswith(TYPE_CONFIG_PREFIX):
            if " ".join(words) == want and not had:
                had = True
                out.append(raw)
            continue  # another type's line (or a second copy): dropped
        out.append(raw)
    if had and len(out) == len(lines):
        return []
    added = [] if had else [f"user {device_id}", want]
    _replace(acl_file, "".join(f"{ln}\n" for ln in [*out, *added]))
    return added


# -- files -----------------------------------------------------------------------------------
def _create_private(path: Path) -> None:
    """Create `path` empty with mode 0640 (group mosquitto if it exists) unless it exists."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    os.close(fd)
    with contextlib.suppress(KeyError, PermissionError):
        os.chown(path, -1, grp.getgrnam("mosquitto").gr_gid)


def _replace(path: Path, text: str) -> None:
    """Atomically replace `path`, keeping its mode and ownership."""
    st = path.stat()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, st.st_mode & 0o7777)
        with contextlib.suppress(PermissionError):
            os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# -- config snippets -------------------------------------------------------------------------
def toml_str(value: str) -> str:
    """A TOML basic string (JSON escapes are TOML's, DEL aside)."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def agent_snippet(device_id: str, password: str, args: argparse.Namespace) -> str:
    def ident(key: str, value: str | None) -> str:
        return f"{key} = {toml_str(value)}" if value else f'# {key} = "..."   (required)'

    return "\n".join(
        [
            f"# /etc/pes/agent.toml for {device_id} (root:pes-agent, mode 0640: it holds the",
            "# MQTT password). See deploy/agent.example.toml for the other keys.",
            f"device_id = {toml_str(device_id)}",
            ident("device_type", args.device_type),
            ident("firmware_version", args.firmware_version),
            ident("account_id", args.account_id),
            "",
            "[mqtt]",
            f"host = {toml_str(args.host)}",
            f"port = {args.port}",
            f"username = {toml_str(device_id)}",
            f"password = {toml_str(password)}",
            "tls = true",
            f"ca_file = {toml_str(args.ca_file)}",
            "",
        ]
    )


def collector_snippet(username: str, password: str, args: argparse.Namespace) -> str:
    return "\n".join(
        [
            "# [mqtt] of /etc/pes/collector.toml (root:pes, mode 0640: it holds the password)",
            "[mqtt]",
            f"host = {toml_str(args.host)}",
            f"port = {args.port}",
            f"username = {toml_str(username)}",
            f"password = {toml_str(password)}",
            "",
        ]
    )


# -- CLI -------------------------------------------------------------------------------------
def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--passwd", required=True, type=Path, help="Mosquitto password_file (created if missing)"
    )
    common.add_argument(
        "--acl", required=True, type=Path, help="Mosquitto acl_file (created if missing)"
    )
    common.add_argument(
        "--password", help="use this password ('-' reads one line from stdin); default: generate"
    )
    common.add_argument(
        "--hasher",
        choices=["auto", "mosquitto_passwd", "builtin"],
        default="auto",
        help="auto: mosquitto_passwd -b when installed, else the same PBKDF2-SHA512 format",
    )
    dev = sub.add_parser(
        "provision-device",
        parents=[common],
        help="create or reset a device's broker login and make sure the ACL confines it",
    )
    dev.add_argument("device_id")
    dev.add_argument(
        "--agent-config",
        action="store_true",
        help="print an agent TOML snippet, not just the password",
    )
    dev.add_argument("--host", default="mqtt.example.com", help="broker host, for the snippet")
    dev.add_argument("--port", type=int, default=8883, help="broker TLS port, for the snippet")
    dev.add_argument("--ca-file", default="/etc/pes/certs/ca.crt", help="for the snippet")
    dev.add_argument(
        "--device-type",
        help="for the snippet, and the device may read this type's remote configuration",
    )
    dev.add_argument("--firmware-version")
    dev.add_argument("--account-id")
    col = sub.add_parser(
        "provision-collector",
        parents=[common],
        help="create or reset the collectors' broker login and its ACL lines",
    )
    col.add_argument("--username", default=COLLECTOR_USER)
    col.add_argument("--collector-config", action="store_true", help="print a [mqtt] TOML snippet")
    col.add_argument("--host", default="127.0.0.1", help="broker host, for the snippet")
    col.add_argument("--port", type=int, default=1883, help="broker port, for the snippet")


def run(args: argparse.Namespace) -> int:
    """Run a provision-* command; print the password (once) on stdout, notes on stderr."""
    try:
        device = args.cmd == "provision-device"
        username = args.device_id if device else args.username
        validate_username(username, device=device)
        if args.password == "-":
            password = sys.stdin.readline().rstrip("\r\n")
        elif args.password is not None:
            password = args.password
        else:
            password = secrets.token_urlsafe(PASSWORD_BYTES)
        validate_password(password)
        hasher = set_password(args.passwd, username, password, hasher=args.hasher)
        added = ensure_acl(
            args.acl,
            device_patterns=device,
            collector_user=None if device else username,
        )
        if device and args.device_type is not None:
            if not _NAME.match(args.device_type):
                raise ConfigError(f"--device-type {args.device_type[:80]!r}: not a valid name")
            added += set_device_type_acl(args.acl, username, args.device_type)
    except (ConfigError, OSError) as exc:
        print(f"pes-collector: {exc}", file=sys.stderr)
        return 2
    except PesError as exc:
        print(f"pes-collector: {exc}", file=sys.stderr)
        return 1
    if device and args.agent_config:
        print(agent_snippet(username, password, args), end="")
    elif not device and args.collector_config:
        print(collector_snippet(username, password, args), end="")
    else:
        print(password)
    note = f"{username}: password set in {args.passwd} ({hasher})"
    note += f"; {len(added)} line(s) added to {args.acl}" if added else f"; {args.acl} unchanged"
    print(f"{note}. Apply with: systemctl reload mosquitto", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """For tests and `python -m collector.provision`: the two commands without the rest."""
    p = argparse.ArgumentParser(prog="pes-collector")
    sub = p.add_subparsers(dest="cmd", required=True)
    add_parsers(sub)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
