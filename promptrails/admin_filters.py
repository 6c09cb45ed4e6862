"""Admin list filters shared by the apps: workspace-scoped related choices, date ranges."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from promptrails.admin_scoping import scope_queryset


class ScopedRelatedFilter(admin.RelatedFieldListFilter):
    """A related-object filter offering only objects of the user's workspaces."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list[Any]:
        related = field.related_model
        qs = scope_queryset(related._default_manager.all(), request)
        ordering = self.field_admin_ordering(field, request, model_admin)
        if ordering:
            qs = qs.order_by(*ordering)
        return [(obj.pk, str(obj)) for obj in qs[:500]]

    def has_output(self) -> bool:
        # Also with a single choice (a member of one workspace), and always when a value is
        # set: the changelist applies only the filters that have output.
        return bool(self.lookup_choices) or bool(self.used_parameters)


def _parse_day(raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError as exc:
        raise IncorrectLookupParameters(f"Not a date: {raw!r}") from exc


class DateRangeFilter(admin.FieldListFilter):
    """From/to day inputs (inclusive, in the current time zone) plus a few presets."""

    template = "admin/filters/date_range.html"
    presets = (("Today", 0), ("Past 7 days", 6), ("Past 30 days", 29))

    def __init__(self, field: Any, request: HttpRequest, params: dict[str, Any], model: Any,
                 model_admin: Any, field_path: str) -> None:
        self.param_from = f"{field_path}__from"
        self.param_to = f"{field_path}__to"
        self.value_from = self._pop(params, self.param_from)
        self.value_to = self._pop(params, self.param_to)
        super().__init__(field, request, params, model, model_admin, field_path)
        if self.value_from:
            self.used_parameters[self.param_from] = self.value_from
        if self.value_to:
            self.used_parameters[self.param_to] = self.value_to

    @staticmethod
    def _pop(params: dict[str, Any], name: str) -> str:
        value = params.pop(name, "")
        if isinstance(value, list):
            value = value[-1] if value else ""
        return str(value)

    def expected_parameters(self) -> list[str | None]:
        return [self.param_from, self.param_to]

    def has_output(self) -> bool:
        return True

    def _bound(self, day: date) -> datetime:
        return timezone.make_aware(datetime.combine(day, time.min))

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value_from:
            queryset = queryset.filter(
                **{f"{self.field_path}__gte": self._bound(_parse_day(self.value_from))}
            )
        if self.value_to:
            end = self._bound(_parse_day(self.value_to) + timedelta(days=1))
            queryset = queryset.filter(**{f"{self.field_path}__lt": end})
        return queryset

    def choices(self, changelist: Any) -> Iterator[Any]:
        today = timezone.localdate()
        remove = [self.param_from, self.param_to]
        yield {
            "selected": not (self.value_from or self.value_to),
            "query_string": changelist.get_query_string(remove=remove),
            "display": "Any date",
        }
        for label, days in self.presets:
            start = (today - timedelta(days=days)).isoformat()
            yield {
                "selected": self.value_from == start and self.value_to == today.isoformat(),
                "query_string": changelist.get_query_string(
                    {self.param_from: start, self.param_to: today.isoformat()}
                ),
                "display": label,
            }
        # The form: the other active parameters ride along as hidden inputs.
        hidden = [
            (name, value)
            for name, values in changelist.filter_params.items()
            if name not in remove
            for value in (values if isinstance(values, list) else [values])
        ]
        yield {
            "form": True,
            "param_from": self.param_from,
            "param_to": self.param_to,
            "value_from": self.value_from,
            "value_to": self.value_to,
            "hidden": hidden,
            "selected": False,
            "display": "",
            "query_string": "",
        }

