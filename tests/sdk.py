"""The official `promptrails` SDK, loaded under the name `promptrails_sdk`.

The server's own Django package is also called `promptrails` (see docs/architecture.md), so
the SDK from site-packages is imported under an alias; it only uses relative imports.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def _load() -> ModuleType:
    if "promptrails_sdk" in sys.modules:
        return sys.modules["promptrails_sdk"]
    init = Path(str(importlib.metadata.distribution("promptrails").locate_file(
        "promptrails/__init__.py")))
    spec = importlib.util.spec_from_file_location(
        "promptrails_sdk", init, submodule_search_locations=[str(init.parent)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["promptrails_sdk"] = module
    spec.loader.exec_module(module)
    return module


sdk = _load()
PromptRails = sdk.PromptRails
AsyncPromptRails = sdk.AsyncPromptRails
errors = importlib.import_module("promptrails_sdk.exceptions")
events = importlib.import_module("promptrails_sdk._sse")
assert importlib.metadata.version("promptrails").startswith("0.9.")
