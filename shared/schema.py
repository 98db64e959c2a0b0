"""Generate the committed JSON Schema of the wire contract: `python -m shared.schema`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from shared.models import Ack, AgentStatus, Batch

SCHEMA_PATH = Path(__file__).with_name("wire-schema.json")


def build() -> dict[str, Any]:
    _, schema = models_json_schema(
        [(Batch, "validation"), (Ack, "validation"), (AgentStatus, "validation")],
        title="PES Telemetry wire contract v1",
    )
    return schema


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    SCHEMA_PATH.write_text(render())
    print(f"wrote {SCHEMA_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
