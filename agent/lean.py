"""Imports for `pes-agent run` without TLS: no OpenSSL in the process (about 6 MB of 29).

asyncio and paho import `ssl` whenever it exists, paho's `hashlib` loads OpenSSL's libcrypto
(`_hashlib`), and paho imports `urllib.request` (http.client, email, ...) for proxies it uses
only with PySocks installed. Each of these is optional in the standard library and in paho
(both run on Pythons built without OpenSSL), so `import_without_tls()` imports asyncio and
paho with them held back: `ssl` and `_hashlib` read as absent (ImportError: asyncio and paho
take their no-TLS paths, hashlib its built-in hashes), `urllib.request` as an empty module.
Afterwards sys.modules is as before for them, so anything that really needs one still gets it.

One repair: paho's socket reads name `ssl.SSLWantReadError` in an `except` clause, which fails
when `ssl` is None (paho 2.2); it gets a stand-in whose exception types are never raised (no
TLS socket exists in such a process). With TLS, none of this runs.
"""

from __future__ import annotations

import importlib.util
import sys
import types

__all__ = ["import_without_tls"]

ABSENT = ("ssl", "_ssl", "_hashlib")


class _NeverRaised(Exception):
    """What paho's `except ssl.SSLWant...Error` clauses catch without TLS: nothing."""


def import_without_tls() -> None:
    """Import asyncio and paho's client without OpenSSL; no-op once either is imported."""
    if "asyncio" in sys.modules or "paho.mqtt.client" in sys.modules:
        return
    held: dict[str, types.ModuleType | None] = {}
    names = list(ABSENT)
    if importlib.util.find_spec("socks") is None:  # paho uses urllib.request only with it
        names.append("urllib.request")
    for name in names:
        if name in sys.modules:
            continue  # already imported by someone: leave it as it is
        held[name] = None if name in ABSENT else types.ModuleType(name, "held back")
        # None in sys.modules is the documented way to make an import raise ImportError;
        # typeshed types the dict's values as modules only.
        sys.modules[name] = held[name]  # type: ignore[assignment]
    try:
        import asyncio  # noqa: F401

        import paho.mqtt.client as paho
    finally:
        for name, value in held.items():
            if sys.modules.get(name) is value:
                del sys.modules[name]
    if getattr(paho, "ssl", None) is None:
        stand_in = types.SimpleNamespace(
            SSLWantReadError=_NeverRaised, SSLWantWriteError=_NeverRaised
        )
        vars(paho)["ssl"] = stand_in
