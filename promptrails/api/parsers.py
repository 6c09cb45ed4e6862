"""JSON request bodies: an empty body is {}; anything but an object, malformed JSON, nesting
deeper than JSON_MAX_DEPTH, NaN/Infinity (also ``1e999``) and text the database cannot
store (NUL, unpaired surrogates — see :mod:`promptrails.storable`) are a 400
``validation_error`` naming the field. One decoder for the DRF views and the async ones."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rest_framework.parsers import JSONParser

from promptrails.storable import json_problems

if TYPE_CHECKING:
    from promptrails.errors import DomainError

# Far more than any body of this API needs; far less than Python's recursion limit.
JSON_MAX_DEPTH = 32


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _invalid(details: dict[str, list[str]], message: str) -> DomainError:
    # imported here: promptrails.api.errors imports DRF's views, which import this module
    from promptrails.errors import InvalidInput

    return InvalidInput(details, message)


def _malformed(message: str) -> DomainError:
    return _invalid({"body": [message]}, message)


def decode_json_object(raw: bytes) -> dict[str, Any]:
    """The JSON object in ``raw`` (UTF-8), checked as the module says."""
    if not raw or not raw.strip():
        return {}
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except RecursionError:
        raise _malformed(f"The JSON nests more than {JSON_MAX_DEPTH} levels deep.") from None
    except ValueError as exc:  # also UnicodeDecodeError
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise _malformed(f"Malformed JSON: {detail}.") from None
    if not isinstance(body, dict):
        raise _malformed("The request body must be a JSON object.")
    problems = json_problems(body, max_depth=JSON_MAX_DEPTH)
    if problems:
        field, messages = next(iter(problems.items()))
        raise _invalid(problems, f"{field}: {messages[0]}")
    return body


class LenientJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:
        return decode_json_object(stream.read() if stream is not None else b"")
