"""KSUID ids (segmentio layout: 4-byte timestamp + 16-byte payload, base62, 27 chars).

The payload starts with a per-process monotonic microsecond counter and ends with random
bytes, so ids made in one process sort in creation order even within one second (message
history is ordered by id); the layout and encoding stay standard KSUID (svix-ksuid).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from django.db import models
from ksuid import Ksuid

_KSUID_EPOCH = 1_400_000_000
_lock = threading.Lock()
_last_us = 0


def new_id() -> str:
    global _last_us
    with _lock:
        now_us = time.time_ns() // 1000
        _last_us = max(now_us, _last_us + 1)
        us = _last_us
    timestamp = (us // 1_000_000 - _KSUID_EPOCH).to_bytes(4, "big")
    payload = (us % 1_000_000).to_bytes(3, "big") + os.urandom(13)
    return str(Ksuid.from_bytes(timestamp + payload))


class KsuidField(models.CharField):
    """Primary-key field holding a KSUID string."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 27)
        kwargs.setdefault("default", new_id)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        return name, "promptrails.ids.KsuidField", args, kwargs
