"""POST /api/v1/search/: search by text, an example image, or both.

With the sessions, because a signed-in search opens a feedback session (its
results can then be judged); the request and result shapes are search's.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from cbir_site.config import site_config
from cbir_site.errors import InvalidInputError, PayloadTooLargeError
from feedback.services import search_session_start
from galleries.imaging import ImageRejected, read_limited
from search.apis import SearchInput, SearchOutput
from search.services import search_images


class SearchApi(APIView):
    """Search the galleries the caller may see by text, an example image, or both."""

    permission_classes = [AllowAny]  # anonymous callers search public galleries only
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "search"

    @extend_schema(
        request={"application/json": SearchInput, "multipart/form-data": SearchInput},
        responses=SearchOutput,
    )
    def post(self, request: Request) -> Response:
        data = SearchInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        upload = fields.get("image")
        image_data = None
        if upload is not None:
            try:
                image_data = read_limited(upload, site_config().max_upload_bytes)
            except ImageRejected as exc:
                raise PayloadTooLargeError(exc.message, code=exc.code) from exc
        galleries = fields.get("galleries")
        if galleries is None and hasattr(request.data, "getlist"):
            galleries = request.data.getlist("galleries") or None
        arguments = {
            "gallery_slugs": galleries,
            "k": fields.get("k"),
            "mode": fields.get("mode"),
            "page": fields.get("page", 1),
            "page_size": fields.get("page_size"),
            "text": fields.get("text"),
            "image_data": image_data,
            "image_id": fields.get("image_id"),
            "image_ids": fields.get("image_ids", ()) or _many(request, "image_ids"),
            "negative_text": _negatives(fields),
            "rephrasings": fields.get("rephrasings", ()),
            "negative_image_ids": fields.get("negative_image_ids", ())
            or _many(request, "negative_image_ids"),
            "text_weight": fields["text_weight"],
            "image_weight": fields["image_weight"],
            "negative_weight": fields["negative_weight"],
            "composition": fields["composition"],
            "fusion": fields["fusion"],
            "first_phase": fields.get("first_phase"),
            "strict": fields["strict"],
            "text_cutoff": fields.get("text_cutoff"),
            "filters": _filters(request, fields),
        }
        session = iteration = None
        if fields["model"] == "candidate":  # staff checking a candidate: no session
            result = search_images(user=request.user, model="candidate", **arguments)
        elif request.user.is_authenticated:  # a signed-in search starts a feedback session
            session, iteration, result = search_session_start(user=request.user, **arguments)
        else:
            result = search_images(user=request.user, **arguments)
        body = SearchOutput(result, context={"request": request}).data
        body["session"] = str(session.pk) if session else None
        body["iteration"] = iteration.number if iteration else None
        return Response(body)


def _filters(request: Request, fields: dict) -> dict:
    """The result filters given (search/result_filters.py); repeated multipart `file_format`."""
    formats = fields.get("file_format") or (
        request.data.getlist("file_format") if hasattr(request.data, "getlist") else []
    )
    given = {
        "uploaded_after": fields.get("uploaded_after"),
        "uploaded_before": fields.get("uploaded_before"),
        "uploader": fields.get("uploader"),
        "file_format": list(formats),
        "sort": fields.get("sort"),
    }
    return {name: value for name, value in given.items() if value}


def _negatives(fields: dict) -> str | None:
    """negative_text with the accepted suggested negatives appended, comma-separated."""
    words = [fields.get("negative_text") or "", *fields.get("negative_suggestions", ())]
    joined = ", ".join(w.strip() for w in words if w and w.strip())
    return joined or fields.get("negative_text")


def _many(request: Request, name: str) -> list[int]:
    """Repeated multipart fields (image_ids=1&image_ids=2) as integers."""
    if not hasattr(request.data, "getlist"):
        return []
    try:
        return [int(v) for v in request.data.getlist(name) if str(v).strip()]
    except ValueError as exc:
        raise InvalidInputError(f"{name} must be integers.") from exc
