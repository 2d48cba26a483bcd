"""Django admin for collection managers.

Superusers see everything. Other staff see only the galleries they own (and
those galleries' images and memberships), through the same selectors as the
rest of the product; changes go through the services.

The gallery and image pages here know only galleries; search/gallery_admin.py
extends them with indexing progress, statistics, cutoffs and re-embedding
(and feedback/admin.py with captions), so that galleries import no app above them.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from galleries import selectors, services
from galleries.admin_forms import MemberForm, MembershipAdminForm
from galleries.models import Gallery, Image, Membership, Organisation, OrganisationMembership
from galleries.slugs import save_with_unique_slug


def thumbnail_html(image_id: int) -> str:
    url = reverse("api:image-thumbnail", args=[image_id])
    return format_html('<img src="{}" style="height:48px;border-radius:4px" alt="">', url)


class ManagedOnlyMixin:
    """Restrict a model admin to rows under galleries the staff user owns."""

    gallery_path = "gallery"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)  # type: ignore[misc]  # a mixin: the ModelAdmin it is mixed into has get_queryset
        if request.user.is_superuser:
            return qs
        managed = selectors.galleries_managed_by(request.user)
        field = "pk" if self.gallery_path == "" else self.gallery_path
        return qs.filter(**{f"{field}__in": managed})

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return self._allowed(request, obj)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return self._allowed(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return self._allowed(request, obj)

    def _allowed(self, request: HttpRequest, obj) -> bool:  # type: ignore[no-untyped-def]
        if not (request.user.is_active and request.user.is_staff):
            return False
        if request.user.is_superuser or obj is None:
            return True
        return self.get_queryset(request).filter(pk=obj.pk).exists()


class MembershipFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        if self.instance.pk is None:
            return  # a new gallery: its creator becomes owner if nobody else is (save_related)
        roles = [
            form.cleaned_data.get("role")
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        if Membership.Role.OWNER not in roles:
            raise ValidationError("A gallery needs at least one owner.")


class MembershipInline(admin.TabularInline):
    """Members of a gallery, edited by whoever may manage the gallery (not by model perms)."""

    model = Membership
    formset = MembershipFormSet
    form = MemberForm  # by username, only users the manager may add (admin_forms)
    extra = 1

    def get_formset(self, request, obj=None, **kwargs):  # type: ignore[no-untyped-def]
        formset = super().get_formset(request, obj, **kwargs)
        formset.form.actor = request.user  # a class built for this request
        return formset

    def _manages(self, request: HttpRequest, gallery: Gallery | None) -> bool:
        if not (request.user.is_active and request.user.is_staff):
            return False
        if request.user.is_superuser or gallery is None:
            return True
        return selectors.galleries_managed_by(request.user).filter(pk=gallery.pk).exists()

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return self._manages(request, obj)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return self._manages(request, obj)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return self._manages(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return self._manages(request, obj)


@admin.register(Gallery)
class GalleryAdmin(ManagedOnlyMixin, admin.ModelAdmin):
    gallery_path = ""
    list_display = [
        "name",
        "slug",
        "visibility",
        "organisation",
        "images_ready",
        "images_pending",
        "images_failed",
    ]
    # RelatedOnly: the plain related filter would list every organisation in the database.
    list_filter = ["visibility", ("organisation", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "description", "visibility", "organisation"]}),
        ("History", {"fields": ["created_by", "created_at", "updated_at"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_ready=Count("images", filter=Q(images__status="ready")),
                n_pending=Count("images", filter=Q(images__status="pending")),
                n_failed=Count("images", filter=Q(images__status="failed")),
            )
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def formfield_for_foreignkey(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        if db_field.name == "organisation":
            kwargs["queryset"] = selectors.organisations_of(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # Only superusers (who see every gallery) choose slugs: for anyone else a taken slug's
    # error would confirm a gallery they cannot see. Theirs end in a random suffix.
    def get_prepopulated_fields(self, request: HttpRequest, obj=None):  # type: ignore[no-untyped-def]
        return super().get_prepopulated_fields(request, obj) if request.user.is_superuser else {}

    def get_readonly_fields(self, request: HttpRequest, obj=None):  # type: ignore[no-untyped-def]
        fields = list(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else ["slug", *fields]

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if not change:
            obj.created_by = request.user
        if not change and not request.user.is_superuser:
            save_with_unique_slug(obj, text=obj.name, always_suffix=True)
        else:
            super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):  # type: ignore[no-untyped-def]
        super().save_related(request, form, formsets, change)
        if not form.instance.memberships.filter(role=Membership.Role.OWNER).exists():
            # A new gallery with no owner listed: its creator owns it.
            Membership.objects.update_or_create(
                gallery=form.instance, user=request.user, defaults={"role": Membership.Role.OWNER}
            )

    def delete_model(self, request, obj):  # type: ignore[no-untyped-def]
        services.gallery_delete(gallery=obj)

    def delete_queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        for gallery in queryset:
            services.gallery_delete(gallery=gallery)

    @admin.display(description="ready", ordering="n_ready")
    def images_ready(self, obj: Gallery) -> int:
        return obj.n_ready

    @admin.display(description="pending", ordering="n_pending")
    def images_pending(self, obj: Gallery) -> int:
        return obj.n_pending

    @admin.display(description="failed", ordering="n_failed")
    def images_failed(self, obj: Gallery) -> int:
        return obj.n_failed


@admin.register(Image)
class ImageAdmin(ManagedOnlyMixin, admin.ModelAdmin):
    list_display = [
        "thumb",
        "original_filename",
        "gallery",
        "status",
        "width",
        "height",
        "created_at",
    ]
    # RelatedOnly: the plain related filter would name every gallery, owned or not.
    list_filter = ["status", ("gallery", admin.RelatedOnlyFieldListFilter), "format"]
    search_fields = ["original_filename", "sha256"]
    list_select_related = ["gallery"]
    readonly_fields = [
        "preview",
        "gallery",
        "file",
        "thumbnail",
        "sha256",
        "byte_size",
        "width",
        "height",
        "format",
        "uploaded_by",
        "status",
        "failure_reason",
        "attempts",
        "created_at",
        "updated_at",
        "embedded_at",
    ]
    fields = ["preview", "original_filename", *readonly_fields[1:]]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # uploads go through the upload service (validation, hashing, queueing)

    def delete_model(self, request, obj):  # type: ignore[no-untyped-def]
        services.image_delete(image=obj)

    def delete_queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        for image in queryset:
            services.image_delete(image=image)

    @admin.display(description="")
    def thumb(self, obj: Image) -> str:
        return thumbnail_html(obj.pk)

    @admin.display(description="Preview")
    def preview(self, obj: Image) -> str:
        url = reverse("api:image-thumbnail", args=[obj.pk])
        return format_html('<img src="{}" style="max-height:240px" alt="">', url)


@admin.register(Membership)
class MembershipAdmin(ManagedOnlyMixin, admin.ModelAdmin):
    list_display = ["gallery", "user", "role", "created_at"]
    list_filter = ["role", ("gallery", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["user__username", "gallery__name"]
    form = MembershipAdminForm  # by username, only users the manager may add (admin_forms)

    def get_form(self, request, obj=None, change=False, **kwargs):  # type: ignore[no-untyped-def]
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = request.user  # a class built for this request
        return form

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def formfield_for_foreignkey(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        if db_field.name == "gallery":
            kwargs["queryset"] = selectors.galleries_managed_by(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class OrganisationMembershipInline(admin.TabularInline):
    model = OrganisationMembership
    extra = 1


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    """Organisations are deployment-wide: superusers only."""

    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [OrganisationMembershipInline]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return request.user.is_superuser
