"""One pagination helper (cbir_site/pagination.py): each surface's answer past the end."""

from __future__ import annotations

import pytest

from cbir_site import bounds
from cbir_site.errors import InvalidInputError, NotFoundError
from cbir_site.pagination import PastEnd, page_of, query_page, query_page_size

ITEMS = list(range(10))  # pages of 4: [0-3], [4-7], [8, 9]


def test_web_pages_show_the_nearest_page():
    assert list(page_of(ITEMS, "x", 4, past_end=PastEnd.LAST)) == [0, 1, 2, 3]
    assert list(page_of(ITEMS, "99", 4, past_end=PastEnd.LAST)) == [8, 9]
    assert list(page_of(ITEMS, None, 4, past_end=PastEnd.LAST)) == [0, 1, 2, 3]


@pytest.mark.parametrize("number", ["4", "0", "x", ""])
def test_api_lists_answer_a_missing_page_with_not_found(number):
    with pytest.raises(NotFoundError, match="Invalid page"):
        page_of(ITEMS, number, 4, past_end=PastEnd.NOT_FOUND)


def test_api_lists_know_the_last_page():
    assert list(page_of(ITEMS, "last", 4, past_end=PastEnd.NOT_FOUND)) == [8, 9]
    assert list(page_of(ITEMS, None, 4, past_end=PastEnd.NOT_FOUND)) == [0, 1, 2, 3]


def test_result_pages_past_the_end_are_empty_with_the_count():
    page = page_of(ITEMS, 7, 4, past_end=PastEnd.EMPTY)
    assert list(page) == [] and page.number == 7 and page.paginator.count == 10


def test_a_list_page_size_is_cut_to_the_bound_or_falls_back_to_the_default():
    most = int(bounds.k_bound().maximum)
    assert query_page_size(str(most + 1), default=50, strict=False) == most
    for raw in ("0", "-3", "x", None):
        assert query_page_size(raw, default=50, strict=False) == 50
    assert query_page_size("7", default=50, strict=False) == 7


@pytest.mark.parametrize("raw", ["0", str(10**9), "x"])
def test_a_strict_page_size_outside_the_bound_is_refused(raw):
    with pytest.raises(InvalidInputError, match="page_size must be a whole number"):
        query_page_size(raw, default=24, strict=True)


def test_a_result_page_number_is_bounded():
    assert query_page(None) == 1 and query_page("3") == 3
    with pytest.raises(InvalidInputError, match="page must be"):
        query_page("0")
