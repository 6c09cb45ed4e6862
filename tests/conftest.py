from __future__ import annotations

import os

import pytest

os.environ.setdefault("PROMPTRAILS_LOCAL_MODEL_DELAY", "0")

from tests.helpers import Tenant, make_tenant  # noqa: E402


@pytest.fixture
def tenant(db: None) -> Tenant:
    return make_tenant("Tenant A")


@pytest.fixture
def other_tenant(db: None) -> Tenant:
    return make_tenant("Tenant B")
