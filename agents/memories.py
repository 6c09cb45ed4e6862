"""Agent memory: what an agent keeps across sessions, per subject (an external user).

A memory is read only for its own workspace, agent and subject, plus the agent's general
memories (empty subject): never another subject's, never another workspace's. Relevance is
PostgreSQL full-text search (``simple`` configuration, any query word matches, ranked) or,
on SQLite, a simple score (query words found in the memory); ties go to importance, then
recency. No extra service.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import connection
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from agents.models import Agent, Memory, MemoryType
from agents.runtime.tools.memory import MAX_MEMORY_CHARS, MemoryStore
from promptrails.db import run_db
from promptrails.errors import InvalidInput, NotFound
from promptrails.models import Workspace
from promptrails.tenancy import scoped

_WORD = re.compile(r"\w{2,}", re.UNICODE)
SQLITE_CANDIDATES = 500  # a subject's memories scored in Python at most (newest first)


def subject_of(*, user_id: str | None, metadata: Any) -> str:
    """Whose memories a session reads and writes: its user_id, else metadata.user_id."""
    if user_id:
        return str(user_id)[:255]
    if isinstance(metadata, dict) and metadata.get("user_id") not in (None, ""):
        return str(metadata["user_id"])[:255]
    return ""


def _words(text: str) -> list[str]:
    return list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))[:32]


def memory_list(*, workspace: Workspace, agent: Agent, params: Any) -> QuerySet[Memory]:
    qs = scoped(Memory.objects.all(), workspace).filter(agent=agent)
    if params.get("subject") is not None:
        qs = qs.filter(subject=params["subject"])
    if params.get("memory_type"):
        qs = qs.filter(memory_type=params["memory_type"])
    if params.get("search"):
        qs = qs.filter(content__icontains=params["search"])
    return qs.order_by("-created_at", "-id")


def memory_get(*, workspace: Workspace, agent: Agent, memory_id: str) -> Memory:
    memory = scoped(Memory.objects.all(), workspace).filter(agent=agent, pk=memory_id).first()
    if memory is None:
        raise NotFound("memory")
    return memory


def _clean(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    if "content" in data or not partial:
        content = data.get("content")
        if not isinstance(content, str) or not content.strip() \
                or len(content) > MAX_MEMORY_CHARS:
            errors["content"] = [f"A non-empty string of at most {MAX_MEMORY_CHARS} "
                                 "characters."]
        else:
            clean["content"] = content.strip()
    if "memory_type" in data:
        if data["memory_type"] not in MemoryType.values:
            errors["memory_type"] = [f"One of {', '.join(MemoryType.values)}."]
        else:
            clean["memory_type"] = data["memory_type"]
    if "importance" in data:
        value = data["importance"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            errors["importance"] = ["A number from 0 to 1."]
        else:
            clean["importance"] = float(value)
    if "subject" in data:
        subject = data["subject"]
        if subject is None:
            subject = ""
        if not isinstance(subject, str) or len(subject) > 255:
            errors["subject"] = ["A string of at most 255 characters."]
        else:
            clean["subject"] = subject
    if errors:
        raise InvalidInput(errors)
    return clean


def memory_create(*, workspace: Workspace, agent: Agent, data: dict[str, Any],
                  session_id: str | None = None) -> Memory:
    clean = _clean(data, partial=False)
    return Memory.objects.create(workspace=workspace, agent=agent, session_id=session_id,
                                 **clean)


def memory_update(*, memory: Memory, data: dict[str, Any]) -> Memory:
    clean = _clean(data, partial=True)
    for name, value in clean.items():
        setattr(memory, name, value)
    if clean:
        memory.save(update_fields=[*clean, "updated_at"])
    return memory


def memory_delete(*, memory: Memory) -> None:
    memory.delete()


def memories_forget(*, subject: str, workspace_id: str | None = None) -> int:
    """Delete every memory about `subject` (a user's right to be forgotten)."""
    qs = Memory.objects.filter(subject=subject)
    if workspace_id:
        qs = qs.filter(workspace_id=workspace_id)
    return qs.delete()[0]


def memories_relevant(*, workspace_id: str, agent_id: str, subject: str, query: str,
                      limit: int, count_access: bool = True) -> list[Memory]:
    """The `limit` most relevant memories of the subject (and the agent's general ones)
    for `query`; each one returned counts as an access."""
    if limit <= 0:
        return []
    qs = Memory.objects.filter(workspace_id=workspace_id, agent_id=agent_id).filter(
        Q(subject=subject) | Q(subject=""))
    words = _words(query)
    found: list[Memory]
    if connection.vendor == "postgresql" and words:
        from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

        search = SearchQuery(words[0], config="simple")
        for word in words[1:]:
            search = search | SearchQuery(word, config="simple")
        found = list(qs.annotate(rank=SearchRank(SearchVector("content", config="simple"),
                                                 search))
                     .order_by("-rank", "-importance", "-created_at", "-id")[:limit])
    else:
        candidates = list(qs.order_by("-importance", "-created_at", "-id")[:SQLITE_CANDIDATES])
        wanted = set(words)

        def score(memory: Memory) -> int:
            return len(wanted & set(_words(memory.content))) if wanted else 0

        found = sorted(candidates, key=score, reverse=True)[:limit]  # stable: ties keep order
    if found and count_access:
        Memory.objects.filter(pk__in=[m.pk for m in found]).update(
            access_count=F("access_count") + 1, last_accessed_at=timezone.now())
    return found


def memory_prompt(memories: list[Memory]) -> str:
    """The block appended to the system prompt."""
    lines = "\n".join(f"- {m.content}" for m in memories)
    return f"What you remember from earlier conversations with this user:\n{lines}"


def memory_store(*, workspace_id: str, agent_id: str, subject: str,
                 session_id: str) -> MemoryStore:
    """The remember/recall tools' store for one run: bound to its workspace, agent and
    subject (the model cannot name another)."""

    def save_sync(content: str, memory_type: str, importance: float) -> str:
        memory = Memory.objects.create(
            workspace_id=workspace_id, agent_id=agent_id, subject=subject, content=content,
            memory_type=memory_type, importance=importance, session_id=session_id)
        return memory.content

    def search_sync(query: str, limit: int) -> list[str]:
        return [m.content for m in memories_relevant(
            workspace_id=workspace_id, agent_id=agent_id, subject=subject, query=query,
            limit=limit)]

    async def save(content: str, memory_type: str, importance: float) -> str:
        return await run_db(save_sync, content, memory_type, importance)

    async def search(query: str, limit: int) -> list[str]:
        return await run_db(search_sync, query, limit)

    return MemoryStore(save=save, search=search)
