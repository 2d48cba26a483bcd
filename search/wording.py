"""Plain words for the pages: what each search mode does, pages of ranked results.

Members see these; the precise names (auto, dynamic, topk, Rocchio, fusion)
stay in the API and in each page's "Details".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from search.request import Mode

# Search modes, named by what they return (the search form and the result pages).
MODE_LABELS = {
    Mode.AUTO: "Only confident matches",
    Mode.TOPK: "The best matches, however close",
    Mode.DYNAMIC: "Matches within each gallery's own cutoff",
    Mode.QUERY: "Matches within a cutoff fitted to this search",
    Mode.STATIC: "Matches within a fixed cutoff",
}
MODE_CHOICES = [(mode.value, label) for mode, label in MODE_LABELS.items()]
BEST_MATCHES = MODE_LABELS[Mode.TOPK]


def mode_label(mode: str) -> str:
    return MODE_LABELS.get(mode, mode)  # type: ignore[call-overload]  # a str finds its StrEnum key


def unchecked_galleries(thresholds: Iterable[Any]) -> set[str]:
    """Slugs of the searched galleries too small for a statistic: their best results are
    shown without a cutoff, so the pages label them instead of counting them as confident.

    Takes a session iteration's stored thresholds (dicts) or a search's ThresholdUsed rows.
    """
    slugs = set()
    for t in thresholds:
        if isinstance(t, Mapping):
            if t.get("distance") is None:
                slugs.add(str(t.get("gallery")))
        elif t.distance is None:
            slugs.add(t.gallery.slug)
    return slugs


def page_links(
    page: Any,  # a Django Page
    carry: Iterable[tuple[str, object]] = (),
    **keep: object,
) -> dict[str, object] | None:
    """Links to the other pages of a ranked list, keeping `keep` (e.g. the iteration) and
    the `carry` pairs (e.g. the result filters, a name may repeat)."""
    if not page.has_other_pages():
        return None
    kept = [(k, v) for k, v in keep.items() if v is not None] + list(carry)

    def href(number: int) -> str:
        return "?" + urlencode([*kept, ("page", number)])

    last = page.paginator.num_pages
    return {
        "number": page.number,
        "last": last,
        "previous": href(page.number - 1) if page.has_previous() else "",
        "next": href(page.number + 1) if page.has_next() else "",
        "numbers": [
            {"number": n, "href": href(n), "current": n == page.number}
            for n in page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1)
            if isinstance(n, int)
        ],
    }
