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
from cbir_site.errors import PayloadTooLargeError
from feedback.services import search_session_start
from galleries.imaging import ImageRejected, read_limited
from search.apis import SearchInput, SearchOutput
from search.request import ModelRole
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
        search = data.to_request(image_data=image_data)
        session = iteration = None
        if search.model == ModelRole.CANDIDATE:  # staff checking a candidate: no session
            result = search_images(user=request.user, request=search)
        elif request.user.is_authenticated:  # a signed-in search starts a feedback session
            session, iteration, result = search_session_start(user=request.user, request=search)
        else:
            result = search_images(user=request.user, request=search)
        body = SearchOutput(result, context={"request": request}).data
        body["session"] = str(session.pk) if session else None
        body["iteration"] = iteration.number if iteration else None
        return Response(body)
