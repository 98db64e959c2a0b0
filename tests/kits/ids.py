"""Readable test ids that pytest keeps as they are.

pytest escapes an id holding a backslash or a character outside printable ASCII, and when it
collects a test module a second time in one process (mutmut does, see scripts/mutation.py) it
escapes the ids it kept from `ids=` once more: the test's node id changes between collections.
"""

from __future__ import annotations


def plain_id(text: str) -> str:
    """`text` with `%`, a backslash and each character outside printable ASCII as %xx (its code
    point in hex, URL style): 'a\\nb' reads a%0ab, 'é' reads %e9."""
    return "".join(c if " " <= c <= "~" and c not in "%\\" else f"%{ord(c):02x}" for c in text)
