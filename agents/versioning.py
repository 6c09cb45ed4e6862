"""Versioned objects: the one set of rules agent versions and prompt versions share.

An agent and a prompt each own numbered versions, exactly one of them current. Creating
and promoting a version follow the same steps for both: lock the parent row (so two
writers cannot both make a version current), refuse a version string the parent already
has, make the new or promoted version current, touch the parent's ``updated_at``.
``agents/services.py`` supplies what differs (the fields of each kind); this module holds
what is the same. The REST side of it (list, get, promote) is in ``agents/api/versions.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import IntegrityError, models
from django.utils import timezone

from agents.signals import configuration_changed
from promptrails.errors import InvalidInput

V = TypeVar("V", bound=models.Model)


@dataclass(frozen=True)
class Versioned(Generic[V]):
    """How one kind of version hangs off its parent: its model and the parent's."""

    model: type[V]
    parent_model: type[models.Model]
    parent_field: str  # "agent" / "prompt"

    @property
    def parent_id_field(self) -> str:
        return f"{self.parent_field}_id"

    def lock_parent(self, parent_id: str) -> None:
        """Serialize version writes of one parent (exactly one current version)."""
        list(self.parent_model._default_manager.select_for_update()
             .filter(pk=parent_id).values_list("pk", flat=True))

    def _touch_parent(self, parent_id: str) -> None:
        self.parent_model._default_manager.filter(pk=parent_id).update(updated_at=timezone.now())

    def create(self, *, parent: models.Model, version: str | None, set_current: bool,
               fields: dict[str, Any]) -> V:
        """Create a version of ``parent``; its first one (or ``set_current``) becomes current.

        Call inside a transaction. A version string the parent already has is a 400 on
        ``version``; a missing one is the next free ``N.0.0``.
        """
        self.lock_parent(parent.pk)
        versions = self.model._default_manager.filter(**{self.parent_field: parent})
        existing = set(versions.values_list("version", flat=True))
        if version and version in existing:
            raise InvalidInput({"version": [f"Version {version!r} already exists."]})
        make_current = set_current or not existing
        if make_current:
            versions.filter(is_current=True).update(is_current=False)
        try:
            created = self.model._default_manager.create(
                **{self.parent_field: parent},
                version=version or next_version(existing),
                is_current=make_current,
                **fields,
            )
        except IntegrityError:
            raise InvalidInput({"version": ["That version already exists."]}) from None
        self._touch_parent(parent.pk)
        return created

    def promote(self, version: V) -> V:
        """Make ``version`` its parent's current one. Call inside a transaction."""
        parent_id = getattr(version, self.parent_id_field)
        self.lock_parent(parent_id)
        self.model._default_manager.filter(
            **{self.parent_id_field: parent_id}, is_current=True
        ).exclude(pk=version.pk).update(is_current=False)
        # by the row, not by this object's `is_current`, which may be stale
        self.model._default_manager.filter(pk=version.pk).update(is_current=True)
        version.is_current = True  # type: ignore[attr-defined]
        configuration_changed(version)  # update() sends no signal
        self._touch_parent(parent_id)
        return version


def next_version(existing: set[str]) -> str:
    n = len(existing) + 1
    while f"{n}.0.0" in existing:
        n += 1
    return f"{n}.0.0"
