"""MCP servers as agent tools, through the official MCP Python SDK (``mcp``).

- ``http``: the SDK's HTTP client (httpx2) through the outbound-URL gate.
- ``client``: discover a server's tools and call one (streamable HTTP or SSE).
- ``headers``: header ``{{placeholders}}`` filled from a credential; masks; encryption.
- ``binding``: an attached server's discovered tools as runtime ``Tool`` objects.
- ``services`` / ``serializers`` / ``views``: ``/api/v1/mcp-tools`` (docs/api.md §7, §10).
"""
