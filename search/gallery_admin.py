"""The gallery and image admin pages, with what search and indexing add to them.

galleries/admin.py knows only galleries; here its pages gain the indexing
progress, the gallery's statistic and cutoffs (with the manager's overrides)
and re-embedding, and are registered in place of the plain ones.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path

from galleries import admin as gallery_admin
from galleries.models import Gallery, Image
from indexing.announce import images_reembed
from indexing.runtime import active_model_name
from indexing.selectors import gallery_indexing_status
from search.cutoff_admin import GalleryCutoffForm, effective_cutoffs_html
from search.cutoffs import gallery_cutoff_overrides_set
from search.models import GalleryStatistics
from search.statistics import gallery_thresholds_changed

admin.site.unregister(Gallery)
admin.site.unregister(Image)


@admin.register(Gallery)
class GalleryAdmin(gallery_admin.GalleryAdmin):
    form = GalleryCutoffForm  # the threshold_* fields: overrides for the active model
    readonly_fields = [
        *gallery_admin.GalleryAdmin.readonly_fields,
        "indexing",
        "retrieval_statistics",
        "effective_cutoffs",
    ]
    fieldsets = [
        gallery_admin.GalleryAdmin.fieldsets[0],
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
        *gallery_admin.GalleryAdmin.fieldsets[1:],
    ]

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        super().save_model(request, obj, form, change)
        changed = gallery_cutoff_overrides_set(
            gallery=obj, model_name=form.model_name, values=form.cutoff_values(), user=request.user
        )
        if change and changed and gallery_thresholds_changed(gallery=obj):
            self.message_user(
                request,
                "The number of neighbours changed: the gallery's statistic is being "
                "recomputed; until then its searches use the static threshold.",
                messages.INFO,
            )

    @admin.display(description="Dynamic threshold")
    def retrieval_statistics(self, obj: Gallery) -> str:
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
class ImageAdmin(gallery_admin.ImageAdmin):
    actions = ["reembed"]
    change_form_template = "admin/galleries/image/change_form.html"  # adds "Re-embed"

    @admin.action(description="Re-embed the selected images with the active model")
    def reembed(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = images_reembed(image_ids=[i.pk for i in queryset], model_name=active_model_name())
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
        count = images_reembed(image_ids=[image.pk], model_name=active_model_name())
        self.message_user(request, queued_message(count), messages.SUCCESS)
        return redirect("admin:galleries_image_change", image.pk)


def queued_message(count: int) -> str:
    return f"{count} image{'s' if count != 1 else ''} queued for embedding."
