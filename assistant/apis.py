"""POST /api/v1/assist/ starts a suggestion request (202); GET /api/v1/assist/{id}/ polls it.

Suggestions are plain text, bounded by assistant/core.py; clients show them as
text (the search page sets textContent), never as HTML.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from assistant import selectors, services
from assistant.models import AssistRequest
from cbir_site import bounds


class AssistInput(serializers.Serializer):
    text = serializers.CharField(
        required=False, allow_blank=True, max_length=1000, help_text="The query, or the words."
    )
    image_id = serializers.IntegerField(
        required=False, help_text="An example image: its description and the words are merged."
    )
    k = serializers.IntegerField(
        required=False,
        help_text="Rephrasings wanted (default CBIR_ASSIST_REPHRASINGS).",
        **bounds.ASSIST_K.limits,
    )


class AssistOutput(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=AssistRequest.Kind.values)
    status = serializers.CharField(help_text="pending, ready or failed")
    text = serializers.CharField()
    image_id = serializers.IntegerField(allow_null=True)
    rephrasings = serializers.ListField(child=serializers.CharField())
    negative_suggestions = serializers.ListField(child=serializers.CharField(), source="negatives")
    merged = serializers.CharField(help_text="compose: the image and the words as one query")
    message = serializers.CharField(help_text="failed: why, in a short sentence")
    provider = serializers.CharField()
    model_name = serializers.CharField()
    tokens = serializers.SerializerMethodField()
    seconds = serializers.FloatField()
    cached = serializers.BooleanField()

    def get_tokens(self, row: AssistRequest) -> int:
        return row.prompt_tokens + row.completion_tokens


def _answer(row: AssistRequest) -> Response:
    code = status.HTTP_202_ACCEPTED if row.status == AssistRequest.Status.PENDING else 200
    return Response(AssistOutput(row).data, status=code)


class AssistStartApi(APIView):
    permission_classes = [IsAuthenticated]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "assist"

    @extend_schema(request=AssistInput, responses={202: AssistOutput})
    def post(self, request: Request) -> Response:
        data = AssistInput(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.assist_request_start(user=request.user, **data.validated_data)
        return _answer(row)


class AssistDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: AssistOutput, 202: AssistOutput})
    def get(self, request: Request, request_id: str) -> Response:
        return _answer(selectors.assist_request_get(user=request.user, request_id=request_id))
