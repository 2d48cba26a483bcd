"""REST endpoints for galleries, memberships, images, uploads and indexing status.

One view per resource: input serializer, selector or service call, output
serializer. Domain errors become HTTP in cbir_site/api.py.
"""

from __future__ import annotations

from django.db.models import Count
from django.http.response import HttpResponseBase
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from cbir_site.errors import InvalidInputError, NotFoundError
from cbir_site.filtering import filtered
from cbir_site.pagination import paginate
from galleries import selectors, services
from galleries.file_http import image_file_response
from galleries.filters import ImageFilter
from galleries.models import Image, Membership
from galleries.serializers import (
    GalleryCreateInput,
    GalleryOutput,
    GalleryUpdateInput,
    ImageOutput,
    MembershipInput,
    MembershipOutput,
    MembershipRoleInput,
    UploadInput,
    UploadResultOutput,
)


def _roles(user, galleries) -> dict[int, str]:  # type: ignore[no-untyped-def]
    if not user.is_authenticated:
        return {}
    rows = Membership.objects.filter(user=user, gallery__in=galleries).values_list(
        "gallery_id", "role"
    )
    return dict(rows)


def _organisation(user, slug: str | None):  # type: ignore[no-untyped-def]
    if not slug:
        return None
    org = selectors.organisations_of(user).filter(slug=slug).first()
    if org is None:
        raise NotFoundError(f"No organisation named '{slug}' that you belong to.")
    return org


class GalleryListApi(APIView):
    @extend_schema(responses=GalleryOutput(many=True), operation_id="galleries_list")
    def get(self, request: Request) -> Response:
        galleries = (
            selectors.galleries_visible_to(request.user)
            .select_related("organisation")
            .annotate(image_count=Count("images"))
            .order_by("name")
        )
        return paginate(
            request,
            galleries,
            lambda page: GalleryOutput(
                page, many=True, context={"roles": _roles(request.user, page)}
            ),
        )

    @extend_schema(request=GalleryCreateInput, responses={201: GalleryOutput})
    def post(self, request: Request) -> Response:
        data = GalleryCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        fields["organisation"] = _organisation(request.user, fields.get("organisation"))
        gallery = services.gallery_create(user=request.user, hide_taken_slugs=True, **fields)
        out = GalleryOutput(gallery, context={"roles": {gallery.pk: Membership.Role.OWNER}})
        return Response(out.data, status=status.HTTP_201_CREATED)


class GalleryDetailApi(APIView):
    @extend_schema(responses=GalleryOutput)
    def get(self, request: Request, slug: str) -> Response:
        gallery = selectors.gallery_get_visible(request.user, slug=slug)
        roles = _roles(request.user, [gallery])
        return Response(GalleryOutput(gallery, context={"roles": roles}).data)

    @extend_schema(request=GalleryUpdateInput, responses=GalleryOutput)
    def patch(self, request: Request, slug: str) -> Response:
        gallery = selectors.gallery_get_managed(request.user, slug=slug)
        data = GalleryUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        if "organisation" in fields:
            fields["organisation"] = _organisation(request.user, fields["organisation"])
        gallery = services.gallery_update(gallery=gallery, user=request.user, **fields)
        return Response(
            GalleryOutput(gallery, context={"roles": _roles(request.user, [gallery])}).data
        )

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str) -> Response:
        gallery = selectors.gallery_get_managed(request.user, slug=slug)
        services.gallery_delete(gallery=gallery)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GalleryMembersApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MembershipOutput(many=True), operation_id="gallery_members_list")
    def get(self, request: Request, slug: str) -> Response:
        gallery = selectors.gallery_get_visible(request.user, slug=slug)
        if selectors.gallery_role_for(request.user, gallery) is None:
            raise NotFoundError(f"No gallery named '{slug}'.")  # non-members see no member list
        members = gallery.memberships.select_related("user").order_by("user__username")
        return paginate(request, members, lambda page: MembershipOutput(page, many=True))

    @extend_schema(
        request=MembershipInput,
        responses={201: MembershipOutput},
        description=(
            "Add a member by username, or change an existing member's role. Only active users "
            "of the gallery's organisation (for a gallery without one: of the caller's "
            "organisations) can be added; for anyone else, existing or not, the answer is the "
            "same 404."
        ),
    )
    def post(self, request: Request, slug: str) -> Response:
        gallery = selectors.gallery_get_managed(request.user, slug=slug)
        data = MembershipInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.gallery_member_add(
            gallery=gallery, actor=request.user, **data.validated_data
        )
        return Response(MembershipOutput(membership).data, status=status.HTTP_201_CREATED)


class GalleryMemberDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=MembershipRoleInput, responses=MembershipOutput)
    def patch(self, request: Request, slug: str, user_id: int) -> Response:
        gallery = selectors.gallery_get_managed(request.user, slug=slug)
        membership = gallery.memberships.filter(user_id=user_id).select_related("user").first()
        if membership is None:
            raise NotFoundError(f"User {user_id} is not a member of this gallery.")
        data = MembershipRoleInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.gallery_member_set(
            gallery=gallery, user=membership.user, role=data.validated_data["role"]
        )
        return Response(MembershipOutput(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, user_id: int) -> Response:
        gallery = selectors.gallery_get_managed(request.user, slug=slug)
        membership = gallery.memberships.filter(user_id=user_id).select_related("user").first()
        if membership is None:
            raise NotFoundError(f"User {user_id} is not a member of this gallery.")
        services.gallery_member_remove(gallery=gallery, user=membership.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GalleryImagesApi(APIView):
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    throttle_scope = "upload"

    def get_throttles(self):  # type: ignore[no-untyped-def]
        # Browsing is cheap; only uploads count against the upload rate.
        if self.request.method == "POST":
            from rest_framework.throttling import ScopedRateThrottle

            return [*super().get_throttles(), ScopedRateThrottle()]
        return super().get_throttles()

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=Image.Status.values, required=False)],
        responses=ImageOutput(many=True),
        operation_id="gallery_images_list",
    )
    def get(self, request: Request, slug: str) -> Response:
        gallery = selectors.gallery_get_visible(request.user, slug=slug)
        images = gallery.images.select_related("gallery", "uploaded_by")
        images = filtered(ImageFilter(request.query_params, queryset=images), strict=True)
        return paginate(
            request,
            images,
            lambda page: ImageOutput(page, many=True, context={"request": request}),
        )

    @extend_schema(
        request={"multipart/form-data": UploadInput},
        responses={201: UploadResultOutput(many=True), 400: UploadResultOutput(many=True)},
        description=(
            "Upload one or more images (form field `files`, repeated). Each file is validated "
            "on its own: the response lists created, duplicate and rejected files. The status "
            "is 201 when at least one file was stored or already present, 400 when all were "
            "rejected."
        ),
    )
    def post(self, request: Request, slug: str) -> Response:
        gallery = selectors.gallery_get_editable(request.user, slug=slug)
        files = request.FILES.getlist("files") or request.FILES.getlist("file")
        if not files:
            raise InvalidInputError("Attach one or more files in the form field 'files'.")
        outcomes = services.images_upload(
            gallery=gallery, user=request.user, files=[(f, f.name) for f in files]
        )
        body = UploadResultOutput(outcomes, many=True, context={"request": request}).data
        ok = any(o.status != "rejected" for o in outcomes)
        return Response(
            {"results": body}, status=status.HTTP_201_CREATED if ok else status.HTTP_400_BAD_REQUEST
        )


class ImageDetailApi(APIView):
    @extend_schema(responses=ImageOutput)
    def get(self, request: Request, image_id: int) -> Response:
        image = selectors.image_get_visible(request.user, image_id=image_id)
        return Response(ImageOutput(image, context={"request": request}).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, image_id: int) -> Response:
        image = selectors.image_get_editable(request.user, image_id=image_id)
        services.image_delete(image=image)
        return Response(status=status.HTTP_204_NO_CONTENT)


class _ImageFileApi(APIView):
    """An image's bytes, cacheable (galleries/file_http.py), under a rate of their own.

    A gallery page shows up to 48 thumbnails: counted against the anonymous API rate
    (60/min) they broke for visitors. The "thumbnail" scope (CBIR_THROTTLE_THUMBNAIL)
    replaces the anonymous and per-user rates here, for signed-in and anonymous callers
    alike; the pages link these same URLs, so one rate covers the site and the API.
    """

    permission_classes = [AllowAny]  # visibility is checked by the selector
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "thumbnail"
    field = "file"

    @extend_schema(
        responses={(200, "image/*"): bytes, 304: None},
        parameters=[
            OpenApiParameter(
                "download",
                str,
                required=False,
                description="1: the original file as an attachment (Save as), not inline.",
            )
        ],
    )
    def get(self, request: Request, image_id: int) -> HttpResponseBase:
        # The selector first, always: an invisible image is 404 even with a matching ETag.
        image = selectors.image_get_visible(request.user, image_id=image_id)
        return image_file_response(request, image, self.field)


class ImageFileApi(_ImageFileApi):
    field = "file"


class ImageThumbnailApi(_ImageFileApi):
    field = "thumbnail"
