from __future__ import annotations

import pytest

from tests.helpers import Tenant
from tests.traces.support import Chat, make_chat


@pytest.fixture
def chat(tenant: Tenant, transactional_db: None) -> Chat:
    return make_chat(tenant)


@pytest.fixture
def other_chat(other_tenant: Tenant, transactional_db: None) -> Chat:
    return make_chat(other_tenant)
