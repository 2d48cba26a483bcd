"""The filters of the search-session list (the API's ?distinct=)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django_filters.widgets import BooleanWidget

from feedback.history import each_query_once
from feedback.models import SearchSession


class YesWidget(BooleanWidget):
    """1, true and yes (any case) say yes; anything else leaves the filter off."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> bool | None:
        value = data.get(name)
        return True if isinstance(value, str) and value.lower() in ("1", "true", "yes") else None


class SessionFilter(django_filters.FilterSet):
    distinct = django_filters.BooleanFilter(
        method="latest_of_each",
        widget=YesWidget,
        label="each distinct query once (its latest session), with `times`",
    )

    class Meta:
        model = SearchSession
        fields: list[str] = []

    def latest_of_each(
        self, queryset: QuerySet[SearchSession], name: str, value: bool | None
    ) -> QuerySet[SearchSession]:
        return each_query_once(queryset) if value else queryset
