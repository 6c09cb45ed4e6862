from tests.chat.conftest import live_tenant, slow_server, slow_tenant  # noqa: F401
