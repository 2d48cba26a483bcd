"""REST endpoints for several images of a gallery at once: delete them, download a zip."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from galleries import bulk, selectors


class ImageIdsInput(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        allow_empty=False,
        help_text="Image ids of this gallery (at most CBIR_BULK_MAX_IMAGES). An id that is not "
        "an image of the gallery answers 404 and nothing is done.",
    )


class BulkDeleteOutput(serializers.Serializer):
    deleted = serializers.IntegerField()


class GalleryImagesDeleteApi(APIView):
    """Delete several images of the gallery at once (its owners and editors)."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "upload"

    @extend_schema(request=ImageIdsInput, responses=BulkDeleteOutput)
    def post(self, request: Request, slug: str) -> Response:
        gallery = selectors.gallery_get_editable(request.user, slug=slug)
        data = ImageIdsInput(data=request.data)
        data.is_valid(raise_exception=True)
        images = bulk.images_pick(gallery=gallery, image_ids=data.validated_data["ids"])
        return Response({"deleted": bulk.images_delete(gallery=gallery, images=images)})


class GalleryImagesDownloadApi(APIView):
    """The original files of several images of the gallery, as one zip (anyone who may see it)."""

    permission_classes = [AllowAny]  # visibility is checked by the selector
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "upload"

    @extend_schema(
        request=ImageIdsInput,
        responses={
            (200, "application/zip"): OpenApiResponse(description="a zip of the originals"),
            413: OpenApiResponse(description="more than CBIR_BULK_DOWNLOAD_MAX_BYTES"),
        },
    )
    def post(self, request: Request, slug: str) -> FileResponse:
        gallery = selectors.gallery_get_visible(request.user, slug=slug)
        data = ImageIdsInput(data=request.data)
        data.is_valid(raise_exception=True)
        images = bulk.images_pick(gallery=gallery, image_ids=data.validated_data["ids"])
        archive = bulk.images_zip(images=images)
        return FileResponse(
            archive,
            as_attachment=True,
            filename=f"{gallery.slug}-{len(images)}-images.zip",
            content_type="application/zip",
        )
