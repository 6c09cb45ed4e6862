from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_local_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTRAILS_LOCAL_MODEL_DELAY", "0")
