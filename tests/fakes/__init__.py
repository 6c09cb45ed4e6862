"""Fake LLM provider HTTP servers speaking the real streaming wire formats."""

from .server import FakeReply, FakeToolCall, RecordedRequest

__all__ = ["FakeReply", "FakeToolCall", "RecordedRequest"]
