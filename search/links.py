"""Search-page links that carry a query: pages, "more like this", "not like this", remove.

The query travels in GET parameters (?q=...&like=12&like=15&unlike=20) so a
composed search can be shared and extended one click at a time. An uploaded
example image travels as the token of its kept copy (?example=...), which
only the browser session that uploaded it may use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from django.urls import reverse

from cbir_site.bounds import parse_image_id
from galleries.models import Image
from search.config import search_config
from search.request import SearchRequest

# Carried as they are, in this order; "like" and "unlike" come after them.
CARRIED = (
    "q",
    "not_q",
    "rephrasings",  # accepted query-assistant ideas, one a line
    "composition",
    "fusion",
    "text_weight",
    "image_weight",
    "negative_weight",
    "galleries",
    "k",
    "mode",
    "example",  # an uploaded example image kept for the browser session (search/example_store.py)
)
# Values that are the form's defaults are left out of links, to keep them short.
_DEFAULT = SearchRequest()
DEFAULT_WEIGHTS = {
    "text_weight": _DEFAULT.text_weight,
    "image_weight": _DEFAULT.image_weight,
    "negative_weight": search_config().negative_weight,
}
DEFAULT_CHOICES = {"composition": _DEFAULT.composition, "fusion": _DEFAULT.fusion}


@dataclass(frozen=True)
class Example:
    """A stored image in the current query, shown as a thumbnail with a remove link."""

    image_id: int
    kind: str  # like | unlike
    image: Image | None  # None: unknown, or not visible to the user
    remove_url: str


@dataclass(frozen=True)
class SearchParams:
    fields: tuple[tuple[str, str], ...] = ()
    like: tuple[int, ...] = ()  # stored example images
    unlike: tuple[int, ...] = ()  # stored "not like this" images

    @classmethod
    def from_data(cls, data: Mapping[str, object]) -> SearchParams:
        """From request data (a QueryDict); the one-image `image_id` becomes a `like`."""
        fields = tuple(
            (name, value.strip())
            for name in CARRIED
            for value in _values(data, name)
            if value.strip() and not is_default(name, value)
        )
        like = _ids([*_values(data, "image_id"), *_values(data, "like")])
        unlike = tuple(i for i in _ids(_values(data, "unlike")) if i not in like)
        return cls(fields, like, unlike)

    def with_like(self, image_id: int) -> SearchParams:
        return replace(
            self,
            like=tuple(dict.fromkeys([*self.like, image_id])),
            unlike=tuple(i for i in self.unlike if i != image_id),
        )

    def with_unlike(self, image_id: int) -> SearchParams:
        return replace(
            self,
            like=tuple(i for i in self.like if i != image_id),
            unlike=tuple(dict.fromkeys([*self.unlike, image_id])),
        )

    def with_field(self, name: str, value: str) -> SearchParams:
        """The same query with one carried field set (left out when it is the default)."""
        fields = [(n, v) for n, v in self.fields if n != name]
        if value and not is_default(name, value):
            fields.append((name, value))
        fields.sort(key=lambda pair: CARRIED.index(pair[0]))  # stable: galleries keep their order
        return replace(self, fields=tuple(fields))

    def field(self, name: str) -> str:
        """A carried field's value ("" when absent)."""
        return next((v for n, v in self.fields if n == name), "")

    def without(self, image_id: int) -> SearchParams:
        return replace(
            self,
            like=tuple(i for i in self.like if i != image_id),
            unlike=tuple(i for i in self.unlike if i != image_id),
        )

    def query(self, **extra: object) -> str:
        pairs: list[tuple[str, object]] = [*self.fields]
        pairs += [("like", i) for i in self.like] + [("unlike", i) for i in self.unlike]
        pairs += [(name, value) for name, value in extra.items() if value]
        return urlencode(pairs)

    def url(self, **extra: object) -> str:
        query = self.query(**extra)
        return reverse("search:page") + (f"?{query}" if query else "")


def session_params(session, gallery_slugs: Sequence[str] = ()) -> SearchParams:  # type: ignore[no-untyped-def]
    """The query a feedback session started from."""
    stored = {
        name: [str(session.params[name])]
        for name in ("fusion", *DEFAULT_WEIGHTS)
        if session.params.get(name) is not None
    }
    data: dict[str, list[str]] = {
        **stored,
        "q": [session.query_text],
        "not_q": [session.negative_text],
        "composition": [session.composition],
        "galleries": list(gallery_slugs),
        "k": [str(session.params.get("k") or "")],
        "mode": [session.mode],
        "example": [str(session.params.get("example") or "")],
        "rephrasings": ["\n".join(session.params.get("rephrasings") or [])],
        "like": [str(i) for i in session.example_image_ids],
        "unlike": [str(i) for i in session.negative_image_ids],
    }
    return SearchParams.from_data(data)


def _values(data: Mapping[str, object], name: str) -> list[str]:
    getlist = getattr(data, "getlist", None)
    raw = getlist(name) if getlist is not None else data.get(name, [])
    if isinstance(raw, str):
        raw = [raw]
    return [str(v) for v in raw or [] if v is not None]  # type: ignore[union-attr]  # raw is a list or None here: a lone str was wrapped above


def _ids(values: Iterable[str]) -> tuple[int, ...]:
    """The image ids among `values`, once each (the form reports the others)."""
    ids = [i for i in map(parse_image_id, values) if i is not None]
    return tuple(dict.fromkeys(ids))


def is_default(name: str, value: str) -> bool:
    """Whether a carried field's value is the form's default (left out of links)."""
    if name in DEFAULT_CHOICES:
        return value == DEFAULT_CHOICES[name]
    if name not in DEFAULT_WEIGHTS:
        return False
    try:
        return float(value) == DEFAULT_WEIGHTS[name]
    except ValueError:
        return False
