"""A small file system for one agent's buffer: a tmpfs mounted in the agent's own mount
namespace (`unshare -m`, needs root or CAP_SYS_ADMIN), so the test never changes the host's
mounts and the mount disappears with the process. The test reaches the files through
/proc/PID/root."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from pathlib import Path


class TmpfsUnavailable(RuntimeError):
    """This machine cannot give a process a private tmpfs (not root, no unshare)."""


def tmpfs_prefix(directory: Path, size_kib: int) -> tuple[str, ...]:
    """A command prefix that mounts a `size_kib` tmpfs on `directory` and execs the rest."""
    script = f'mount -t tmpfs -o size={size_kib}k pes-buffer "{directory}" && exec "$@"'
    return ("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh")


def probe() -> str | None:
    """None if tmpfs_prefix works here, else why not."""
    with tempfile.TemporaryDirectory() as d:
        cmd = [*tmpfs_prefix(Path(d), 64), "true"]
        try:
            out = subprocess.run(cmd, capture_output=True, timeout=30, check=False)
        except OSError as exc:
            return str(exc)
        return None if out.returncode == 0 else out.stderr.decode(errors="replace").strip()


def fill(path: Path, keep_free: int) -> None:
    """Write `path` until its file system has only `keep_free` bytes left."""
    st = os.statvfs(path.parent)
    left = st.f_bavail * st.f_frsize - keep_free
    block = b"\0" * (1 << 16)
    with path.open("wb") as fh, contextlib.suppress(OSError):
        while left > 0:
            left -= fh.write(block[: min(left, len(block))])
            fh.flush()
