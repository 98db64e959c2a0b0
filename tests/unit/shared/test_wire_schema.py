from shared.schema import SCHEMA_PATH, render


def test_committed_json_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text() == render(), "run: python -m shared.schema"
