"""Django admin for collection managers.

Superusers see everything. Other staff see only the galleries they own (and
those galleries' images and memberships), through the same selectors as the
rest of the product; changes go through the services.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html

from galleries import selectors, services
from galleries.admin_forms import MemberForm, MembershipAdminForm
from galleries.models import Gallery, Image, Membership, Organisation, OrganisationMembership
from galleries.slugs import save_with_unique_slug
from search.cutoff_admin import GalleryCutoffForm, effective_cutoffs_html
from search.cutoffs import gallery_cutoff_overrides_set
from search.runtime import active_model_name


def thumbnail_html(image_id: int) -> str:
    url = reverse("api:image-thumbnail", args=[image_id])
    return format_html('<img src="{}" style="height:48px;border-radius:4px" alt="">', url)


class ManagedOnlyMixin:
    """Restrict a model admin to rows under galleries the staff user owns."""

    gallery_path = "gallery"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)  # type: ignore[misc]
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
    form = GalleryCutoffForm  # the threshold_* fields: overrides for the active model
    readonly_fields = [
        "created_by",
        "created_at",
        "updated_at",
        "indexing",
        "retrieval_statistics",
        "effective_cutoffs",
    ]
    fieldsets = [
        (None, {"fields": ["name", "slug", "description", "visibility", "organisation"]}),
        ("Indexing", {"fields": ["indexing", "retrieval_statistics"]}),
        (
            "Cutoffs for the active model (overrides; empty: the model's fitted or default value)",
            {
                "fields": [
                    "effective_cutoffs",
                    "threshold_static_image",
                    "threshold_static_text",
                    "threshold_weight",
                    "threshold_neighbours",
                ]
            },
        ),
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
        changed = gallery_cutoff_overrides_set(
            gallery=obj, model_name=form.model_name, values=form.cutoff_values(), user=request.user
        )
        if change and changed:
            from search.statistics import gallery_thresholds_changed

            if gallery_thresholds_changed(gallery=obj):
                self.message_user(
                    request,
                    "The number of neighbours changed: the gallery's statistic is being "
                    "recomputed; until then its searches use the static threshold.",
                    messages.INFO,
                )

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

    @admin.display(description="Dynamic threshold")
    def retrieval_statistics(self, obj: Gallery) -> str:
        from search.models import GalleryStatistics

        row = GalleryStatistics.objects.filter(gallery=obj, model_name=active_model_name()).first()
        if row is None:
            return (
                "No statistic yet: it is computed in the background once the gallery has "
                "enough embedded images (CBIR_THRESHOLD_MIN_IMAGES); until then searches use top-k."
            )
        parts = [
            f"m_g = {row.mean_distance:.4f} over {row.image_count} images "
            f"(n = {row.neighbours}, {row.sampled} sampled), "
            f"computed {row.computed_at:%Y-%m-%d %H:%M}",
        ]
        if row.global_mean is not None:
            parts.append(
                f"M = {row.global_mean:.4f}; T_g image = {row.threshold_image:.4f}, "
                f"text = {row.threshold_text:.4f} (Euclidean distance), set "
                f"{row.thresholds_at:%Y-%m-%d %H:%M}"
            )
        return "; ".join(parts)

    @admin.display(description="Effective values")
    def effective_cutoffs(self, obj: Gallery) -> str:
        return effective_cutoffs_html(obj)

    @admin.display(description="Indexing")
    def indexing(self, obj: Gallery) -> str:
        from search.selectors import gallery_indexing_status

        s = gallery_indexing_status(obj)
        text = (
            f"{s['ready']} ready, {s['pending']} pending, {s['failed']} failed; "
            f"{s['indexed']} of {s['total']} embedded with {s['model_name']}"
        )
        if s["candidate"]:
            c = s["candidate"]
            text += f"; candidate {c['model_name']}: {c['indexed']} of {s['ready']} ready"
        return text


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
    actions = ["reembed"]
    change_form_template = "admin/galleries/image/change_form.html"  # adds "Re-embed"
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
        "feedback",
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

    @admin.display(description="Feedback")
    def feedback(self, obj: Image) -> str:
        judgements = reverse("admin:feedback_judgement_changelist")
        expansions = reverse("admin:feedback_expansion_changelist")
        return format_html(
            '<a href="{}?image__id__exact={}">judgement history</a> · '
            '<a href="{}?image__id__exact={}">review expansions</a>',
            judgements,
            obj.pk,
            expansions,
            obj.pk,
        )

    @admin.action(description="Re-embed the selected images with the active model")
    def reembed(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = services.images_reembed(images=list(queryset), model_name=active_model_name())
        self.message_user(request, queued_message(count), messages.SUCCESS)

    def get_urls(self):  # type: ignore[no-untyped-def]
        own = [
            path(
                "<int:object_id>/reembed/",
                self.admin_site.admin_view(self.reembed_view),
                name="galleries_image_reembed",
            )
        ]
        return own + super().get_urls()

    def reembed_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """The change page's "Re-embed" button (POST): the list action for one image."""
        image = self.get_object(request, str(object_id))
        if image is None or not self.has_change_permission(request, image):
            raise Http404("No such image.")
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        count = services.images_reembed(images=[image], model_name=active_model_name())
        self.message_user(request, queued_message(count), messages.SUCCESS)
        return redirect("admin:galleries_image_change", image.pk)


def queued_message(count: int) -> str:
    return f"{count} image{'s' if count != 1 else ''} queued for embedding."


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
