"""One way to read a list's filters from a request: django-filter FilterSets.

The REST API answers a value a filter cannot take with a 400 that names the parameter
and what it may be; a web page drops the filters and shows the list whole, as a
hand-edited link should not break the page.
"""

from __future__ import annotations

from typing import Any

from django_filters import FilterSet

from cbir_site.errors import InvalidInputError


def filtered(filterset: FilterSet, *, strict: bool) -> Any:
    """The filterset's queryset, narrowed. strict (the API): an unusable value is a 400."""
    if not filterset.is_bound or filterset.is_valid():
        return filterset.qs
    if strict:
        name = next(iter(filterset.errors))
        raise InvalidInputError(_expected(filterset, name))
    return filterset.queryset.all()


def _expected(filterset: FilterSet, name: str) -> str:
    choices = getattr(filterset.form.fields[name], "choices", None)
    if choices is not None:
        values = [str(value) for value, _ in choices if value != ""]
        return f"{name} must be one of {', '.join(values)}."
    return f"{name}: {' '.join(filterset.errors[name])}"
