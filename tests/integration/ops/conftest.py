"""The operations tests' one monitored stack (tests.kits.ops.stack.running_stack), started once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kits.ops.stack import Stack, running_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("ops-stack")) as s:
        yield s
