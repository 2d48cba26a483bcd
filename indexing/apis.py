"""Indexing's API: a gallery's indexing progress under the active (and candidate) model."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from galleries import selectors
from indexing.selectors import gallery_indexing_status


class CandidateProgressOutput(serializers.Serializer):
    model_name = serializers.CharField()
    indexed = serializers.IntegerField(help_text="Ready images the candidate has embedded.")
    progress = serializers.FloatField(help_text="indexed / ready, 1.0 for no ready image.")


class StatusOutput(serializers.Serializer):
    gallery = serializers.CharField()
    total = serializers.IntegerField()
    pending = serializers.IntegerField()
    ready = serializers.IntegerField()
    failed = serializers.IntegerField()
    model_name = serializers.CharField(allow_null=True)
    indexed = serializers.IntegerField(
        help_text="Images with an embedding of the active model (searchable now)."
    )
    progress = serializers.FloatField(help_text="indexed / total, 1.0 for an empty gallery.")
    candidate = CandidateProgressOutput(
        allow_null=True,
        help_text="During a model switch: the model catching up, and how far it got here "
        "(search keeps the active model until the candidate covers the collection).",
    )


class GalleryStatusApi(APIView):
    @extend_schema(responses=StatusOutput)
    def get(self, request: Request, slug: str) -> Response:
        gallery = selectors.gallery_get_visible(request.user, slug=slug)
        return Response(StatusOutput(gallery_indexing_status(gallery)).data)
