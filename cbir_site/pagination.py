"""Pagination for plain APIViews (one view per operation keeps the generic views out)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def paginate(
    request: Request,
    view: APIView,
    queryset: Any,
    serializer: Callable[[list[Any]], BaseSerializer],
) -> Response:
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer(page).data)
