"""The fork server of the whole-command tests (``helpers.fork_server``): one per test module, started once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers.fork_server import ForkServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    srv = ForkServer(tmp_path_factory.mktemp("logs"))
    yield srv
    srv.close()
