"""Organisations, galleries, memberships and images.

Rules live in services.py (writes) and selectors.py (reads); models only
describe the data and its database constraints.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from cbir_site import bounds
from cbir_site.choices import TextChoices


class Organisation(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="OrganisationMembership", related_name="organisations"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class OrganisationMembership(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "user"], name="uniq_org_member"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organisation}"


class Gallery(models.Model):
    class Visibility(TextChoices):
        PRIVATE = "private", "Private (members only)"
        ORGANISATION = "organisation", "Organisation (every member of its organisation)"
        PUBLIC = "public", "Public (everyone, signed in or not)"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="galleries"
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="galleries"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Retrieval settings: empty means the deployment's setting (CBIR_THRESHOLD_*).
    # Validators only (cbir_site/bounds.py): rows saved before they existed keep their values.
    threshold_static_image = models.FloatField(
        null=True,
        blank=True,
        validators=bounds.THRESHOLD_STATIC.validators(),
        help_text="T_static for image queries (Euclidean distance, 0-2).",
    )
    threshold_static_text = models.FloatField(
        null=True,
        blank=True,
        validators=bounds.THRESHOLD_STATIC.validators(),
        help_text="T_static for text queries (Euclidean distance, 0-2).",
    )
    threshold_weight = models.FloatField(
        null=True,
        blank=True,
        validators=bounds.THRESHOLD_WEIGHT.validators(),
        help_text="w in T_g = T_static + w (m_g - M), 0-10.",
    )
    threshold_neighbours = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=bounds.THRESHOLD_NEIGHBOURS.validators(),
        help_text="n: neighbours per image in the gallery statistic m_g, 1-1000.",
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "galleries"
        constraints = [
            models.CheckConstraint(
                condition=~Q(visibility="organisation") | Q(organisation__isnull=False),
                name="org_visibility_needs_org",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(TextChoices):
        OWNER = "owner", "Owner (manage members and settings)"
        EDITOR = "editor", "Editor (upload and delete images)"
        VIEWER = "viewer", "Viewer (browse and search)"

    gallery = models.ForeignKey(Gallery, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gallery_memberships"
    )
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["gallery", "user"]
        constraints = [
            models.UniqueConstraint(fields=["gallery", "user"], name="uniq_gallery_member"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.gallery}"


class Image(models.Model):
    class Status(TextChoices):
        PENDING = "pending", "Pending"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    gallery = models.ForeignKey(Gallery, on_delete=models.CASCADE, related_name="images")
    # Server-generated storage names (see services._storage_name); never the client's name.
    file = models.FileField(max_length=255)
    thumbnail = models.FileField(max_length=255, blank=True)
    original_filename = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64)
    byte_size = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=16)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    failure_reason = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    embedded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["gallery", "sha256"], name="uniq_image_per_gallery"),
        ]
        indexes = [
            models.Index(fields=["gallery", "status"], name="image_gallery_status"),
            models.Index(fields=["status", "updated_at"], name="image_status_updated"),
        ]

    def __str__(self) -> str:
        return self.original_filename or f"image {self.pk}"


class PendingUpload(models.Model):
    """A file written to storage whose Image row has not committed yet.

    Recorded (and committed) before the file is written and deleted in the
    same transaction that creates the Image row. A process killed in between
    leaves this row behind, and the janitor (galleries.tasks) removes the
    orphaned file: nothing half-written survives a crash.
    """

    path = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return self.path
