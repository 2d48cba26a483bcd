"""Input and output serializers for the gallery API. They validate and shape data;
they never save (services do)."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from galleries.models import Gallery, Image, Membership


class GalleryOutput(serializers.ModelSerializer):
    organisation = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    role = serializers.SerializerMethodField(help_text="The caller's own role, or null.")
    image_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Gallery
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "visibility",
            "organisation",
            "role",
            "image_count",
            "created_at",
            "updated_at",
        ]

    def get_role(self, gallery: Gallery) -> str | None:
        roles = self.context.get("roles", {})
        return roles.get(gallery.pk)


class GalleryCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    visibility = serializers.ChoiceField(choices=Gallery.Visibility.choices, default="private")
    organisation = serializers.SlugField(required=False, allow_null=True, default=None)
    slug = serializers.SlugField(required=False, allow_blank=True, default="", max_length=80)


class GalleryUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    visibility = serializers.ChoiceField(choices=Gallery.Visibility.choices, required=False)
    organisation = serializers.SlugField(required=False, allow_null=True)


class MembershipOutput(serializers.ModelSerializer):
    user_id = serializers.IntegerField(source="user.id")
    username = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["user_id", "username", "role", "created_at"]


class MembershipInput(serializers.Serializer):
    """A member is named by username only, and only among the users the caller may add
    (selectors.users_addable_to): an id would let anyone walk the user table."""

    username = serializers.CharField(
        max_length=150,
        help_text="An active user of the gallery's organisation (a gallery without one: of "
        "one of yours). Anyone else answers the same 404.",
    )
    role = serializers.ChoiceField(choices=Membership.Role.choices)

    def validate(self, attrs: dict) -> dict:
        if "user_id" in self.initial_data:
            raise serializers.ValidationError(
                {"user_id": "Members are added by username; user_id is not accepted."}
            )
        return attrs


class MembershipRoleInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class ImageOutput(serializers.ModelSerializer):
    gallery = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    file_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    uploaded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Image
        fields = [
            "id",
            "gallery",
            "original_filename",
            "sha256",
            "byte_size",
            "width",
            "height",
            "format",
            "status",
            "failure_reason",
            "uploaded_by",
            "created_at",
            "embedded_at",
            "file_url",
            "thumbnail_url",
        ]

    def get_file_url(self, image: Image) -> str:
        return self._absolute(reverse("api:image-file", args=[image.pk]))

    def get_thumbnail_url(self, image: Image) -> str:
        return self._absolute(reverse("api:image-thumbnail", args=[image.pk]))

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class UploadResultOutput(serializers.Serializer):
    filename = serializers.CharField()
    status = serializers.ChoiceField(choices=["created", "duplicate", "rejected"])
    code = serializers.CharField(allow_blank=True)
    message = serializers.CharField(allow_blank=True)
    image = ImageOutput(allow_null=True)


class UploadInput(serializers.Serializer):
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True), allow_empty=False
    )
