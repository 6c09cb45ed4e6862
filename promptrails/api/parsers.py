"""JSON parsing that treats an empty body as {} and refuses non-object bodies clearly."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class LenientJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:
        raw = stream.read() if stream is not None else b""
        if not raw or not raw.strip():
            return {}
        data = super().parse(io.BytesIO(raw), media_type, parser_context)
        if not isinstance(data, dict):
            raise ParseError("The request body must be a JSON object.")
        return data
