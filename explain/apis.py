"""GET an explanation of one result (JSON; 202 while pending) and its heat map as a PNG."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cbir_site.errors import ConflictError
from explain import selectors, services
from explain.models import Explanation
from explain.overlay import overlay_png
from galleries.decoding import image_decode

FULL_SIDE = 1600  # ?full=1: the overlay on the whole image, at most this many pixels a side
FULL_PARAM = OpenApiParameter("full", str, description="1: over the full image, not the thumbnail")
METHOD_PARAM = OpenApiParameter(
    "method",
    str,
    description="auto (the fastest for the model), occlusion, cam, patch_tokens, clipseg",
)


class ExplanationOutput(serializers.Serializer):
    status = serializers.ChoiceField(choices=Explanation.Status.values)
    model_name = serializers.CharField()
    requested = serializers.CharField(help_text="the method asked for")
    method = serializers.CharField(help_text="the method that ran (empty while pending)")
    regions = serializers.JSONField(help_text="rows x cols of heat in [0, 1], top row first")
    passes = serializers.IntegerField(help_text="pictures through the image tower")
    seconds = serializers.FloatField()
    complete = serializers.BooleanField(help_text="false when the time budget cut it short")
    concepts = serializers.JSONField(help_text="bundled encoder: top classes and their shares")
    parts = serializers.JSONField(help_text="the composed query's parts and contributions")
    rank_change = serializers.JSONField(allow_null=True)
    expansion = serializers.JSONField(allow_null=True)
    overlay_url = serializers.CharField(allow_null=True)
    error = serializers.CharField(allow_blank=True)


def _body(row: Explanation, words: dict, overlay_url: str) -> dict:
    return ExplanationOutput(
        {
            "status": row.status,
            "model_name": row.model_name,
            "requested": row.requested,
            "method": row.method,
            "regions": row.grid,
            "passes": row.passes,
            "seconds": row.seconds,
            "complete": row.complete,
            "concepts": row.words.get("concepts", []),
            "parts": row.words.get("parts", {}),
            "rank_change": words.get("rank_change"),
            "expansion": words.get("expansion"),
            "overlay_url": overlay_url if row.status == Explanation.Status.READY else None,
            "error": row.error,
        }
    ).data


class ExplanationApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[METHOD_PARAM], responses={200: ExplanationOutput, 202: ExplanationOutput}
    )
    def get(self, request: Request, session_id: str, number: int, image_id: int) -> Response:
        method = services.method_checked(request.query_params.get("method"))
        session, iteration, image = selectors.explanation_target(
            request.user, session_id=session_id, number=number, image_id=image_id
        )
        row = services.explanation_request(
            session=session, iteration=iteration, image=image, method=method
        )
        words = selectors.request_words(
            request.user, session=session, iteration=iteration, image=image
        )
        overlay = reverse("api:session-explain-overlay", args=[session.pk, number, image.pk])
        body = _body(row, words, f"{overlay}?method={method}")
        pending = row.status == Explanation.Status.PENDING
        return Response(body, status=status.HTTP_202_ACCEPTED if pending else status.HTTP_200_OK)


class ExplanationOverlayApi(APIView):
    """The thumbnail with the heat map blended over it (Pillow; our own colour map)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[METHOD_PARAM, FULL_PARAM], responses={(200, "image/png"): bytes})
    def get(self, request: Request, session_id: str, number: int, image_id: int) -> HttpResponse:
        method = services.method_checked(request.query_params.get("method"))
        session, iteration, image = selectors.explanation_target(
            request.user, session_id=session_id, number=number, image_id=image_id
        )
        row = services.explanation_request(
            session=session, iteration=iteration, image=image, method=method
        )
        if row.status != Explanation.Status.READY:
            raise ConflictError(f"The explanation is {row.status}, not ready.", code=row.status)
        full = request.query_params.get("full") == "1"  # the whole image, not the thumbnail
        field = image.file if full or not image.thumbnail else image.thumbnail
        with field.open("rb") as fh:
            picture = image_decode(fh.read(), min_side=FULL_SIDE if full else 64)
        png = overlay_png(picture, row.grid, max_side=FULL_SIDE if full else 512)
        response = HttpResponse(png, content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response
