"""Outcome records (specs/outcomes.md): parsing and validating an import of JSON lines.

One line is one outcome of an account or a device:

    {"account_id": "a-7", "outcome": "renewed", "date": "2026-06-30"}
    {"device_id": "d-1", "outcome": "churned", "date": "2026-07-01"}

Exactly one of `account_id` (entity `account`) or `device_id` (entity `device`); `outcome` one
of `renewed`, `expanded`, `churned` (lower case, as written); `date` a calendar day written
`YYYY-MM-DD` in the years 1970 to 2999. No other field. Ids follow the wire's rules for ids
(`shared.models.Id`: at most 64 characters of letters, digits and `._:-`).

An import is all or nothing: `parse_outcome_lines` returns every record or raises
`OutcomeLineError` naming the first bad line (1-based) and why, so the caller stores nothing.
Blank lines (only whitespace) are skipped but still counted. The key of a record is
`(entity, id, date)`; a later line with the same key replaces the earlier one (it keeps the
position of the key's first line in the result). Storing the records, and replacing those of
an earlier import with the same keys, is the caller's business.

Pure: no I/O, no other collector module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from shared.models import Id

OUTCOMES: Final = ("renewed", "expanded", "churned")
RETAINED: Final = frozenset({"renewed", "expanded"})
ENTITIES: Final = ("account", "device")
MIN_YEAR: Final = 1970
MAX_YEAR: Final = 2999
# A valid line is under 150 characters; this leaves room for spaces without letting one line
# hold megabytes.
MAX_LINE_CHARS: Final = 1_024
# Default cap on the lines of one import (blank ones included); the caller may pass another.
MAX_LINES: Final = 1_000_000

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)

Entity = Literal["account", "device"]
Outcome = Literal["renewed", "expanded", "churned"]
Key = tuple[str, str, date]


class OutcomeLineError(ValueError):
    """A refused import: `line` is 1-based, `reason` says what is wrong with it."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)
class OutcomeRecord:
    entity: Entity
    id: str
    outcome: Outcome
    date: date

    @property
    def key(self) -> Key:
        return (self.entity, self.id, self.date)

    @property
    def retained(self) -> bool:
        return self.outcome in RETAINED


class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    account_id: Id | None = None
    device_id: Id | None = None
    outcome: Outcome
    date: str

    @field_validator("date")
    @classmethod
    def _calendar_day(cls, v: str) -> str:
        if not _DATE.fullmatch(v):
            raise ValueError("must be a calendar day written YYYY-MM-DD")
        try:
            day = date.fromisoformat(v)
        except ValueError:
            raise ValueError("is not a calendar day") from None
        if not MIN_YEAR <= day.year <= MAX_YEAR:
            raise ValueError(f"must be in the years {MIN_YEAR} to {MAX_YEAR}")
        return v


class _DuplicateField(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateField(f"field {k!r} appears twice")
        out[k] = v
    return out


def _reason(e: ValidationError) -> str:
    err = e.errors(include_url=False, include_input=False, include_context=False)[0]
    where = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg


def parse_outcome_line(text: str) -> OutcomeRecord:
    """One non-blank line to a record; ValueError (reason only, no line number) if invalid."""
    if len(text) > MAX_LINE_CHARS:
        raise ValueError(f"longer than {MAX_LINE_CHARS} characters")
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except _DuplicateField as e:
        raise ValueError(str(e)) from None
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON: {e.msg} at character {e.pos + 1}") from None
    except (ValueError, RecursionError):  # e.g. nesting too deep for the parser
        raise ValueError("not valid JSON") from None
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    try:
        line = _Line.model_validate(obj)
    except ValidationError as e:
        raise ValueError(_reason(e)) from None
    if (line.account_id is None) == (line.device_id is None):
        raise ValueError("needs exactly one of account_id or device_id")
    day = date.fromisoformat(line.date)
    if line.account_id is not None:
        return OutcomeRecord("account", line.account_id, line.outcome, day)
    if line.device_id is not None:
        return OutcomeRecord("device", line.device_id, line.outcome, day)
    raise AssertionError("unreachable: exactly one id was checked above")


def parse_outcome_lines(
    lines: Iterable[str | bytes], *, max_lines: int = MAX_LINES
) -> list[OutcomeRecord]:
    """All records of one import, a later line with the same key replacing an earlier one, or
    OutcomeLineError for the first invalid line. `lines` may be a file opened in text or binary
    mode, or `text.splitlines()`; bytes must be UTF-8 (a leading byte order mark is allowed)."""
    records: dict[Key, OutcomeRecord] = {}
    for number, raw in enumerate(lines, start=1):
        if number > max_lines:
            raise OutcomeLineError(number, f"more than {max_lines} lines")
        if isinstance(raw, bytes):
            if len(raw) > 4 * MAX_LINE_CHARS:
                raise OutcomeLineError(number, f"longer than {MAX_LINE_CHARS} characters")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise OutcomeLineError(number, "not UTF-8") from None
        else:
            text = raw
        if number == 1:
            text = text.removeprefix("\ufeff")
        if not text.strip():
            continue
        try:
            record = parse_outcome_line(text)
        except ValueError as e:
            raise OutcomeLineError(number, str(e)) from None
        records[record.key] = record
    return list(records.values())


def parse_outcome_text(text: str | bytes, *, max_lines: int = MAX_LINES) -> list[OutcomeRecord]:
    """`parse_outcome_lines` over a whole file's or request body's content."""
    if isinstance(text, bytes):
        # Split before decoding so a bad byte is reported on its own line.
        return parse_outcome_lines(text.split(b"\n"), max_lines=max_lines)
    return parse_outcome_lines(text.split("\n"), max_lines=max_lines)
