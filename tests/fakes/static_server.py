"""A server that answers every request with one fixed response and records the requests.

For the outbound-policy tests: a URL that answers with something a careless server would
echo (an internal body), or with a redirect elsewhere::

    with StaticServer(status=302, headers={"Location": "http://127.0.0.1:9/x"}) as server:
        ...
        assert server.requests[0].headers["authorization"] == "Bearer sk-..."
"""

from __future__ import annotations

from .server import Conn, FakeServer, RecordedRequest


class StaticServer(FakeServer):
    name = "static"

    def __init__(self, *, status: int = 200, body: bytes = b"{}",
                 content_type: str = "application/json",
                 headers: dict[str, str] | None = None, host: str = "127.0.0.1") -> None:
        super().__init__(host=host)
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    async def route(self, request: RecordedRequest, conn: Conn) -> None:
        await conn.send_response(self.status, self.body, self.content_type, self.headers)
