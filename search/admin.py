"""Read-only admin of the per-model cutoff calibrations (every staff member may look), and
the Models page (search/model_switch.py).

Values are written by the fitting tasks (search/cutoff_fit.py), never by hand:
a manager's value is a gallery override, set on the gallery's page.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from indexing.model_catalogue import known_model
from indexing.model_models import ManagedModel
from search import gallery_admin  # noqa: F401  (the gallery and image pages, extended)
from search.cutoff_models import CutoffCalibration, ModelScoreStatistics


class StaffRecordsAdmin(admin.ModelAdmin):
    """Rows the product writes itself: every staff member may look, nobody adds or deletes."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(CutoffCalibration)
class CutoffCalibrationAdmin(StaffRecordsAdmin):
    list_display = [
        "model_name",
        "parameter",
        "value",
        "source",
        "sample_size",
        "score",
        "fitted_at",
    ]
    list_filter = ["source", "parameter", "model_name"]
    search_fields = ["model_name"]
    readonly_fields = [f.name for f in CutoffCalibration._meta.fields]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(ModelScoreStatistics)
class ModelScoreStatisticsAdmin(StaffRecordsAdmin):
    """When each model's score statistics (text queries' own-score z) were computed, over how
    many images; the mean and covariance themselves are not shown."""

    list_display = ["model_name", "image_count", "dimension", "computed_at"]
    fields = readonly_fields = ["model_name", "image_count", "dimension", "computed_at"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


# ---------------------------------------------------------------- Models


@admin.register(ManagedModel)
class ManagedModelAdmin(StaffRecordsAdmin):
    """The Models page: the catalogue, pulls, the candidate's progress, activate, prune.

    Every staff member may look; changing (pull, activate, prune) needs the
    change permission on models (superusers have it).
    """

    change_list_template = "admin/search/models.html"

    def get_urls(self):  # type: ignore[no-untyped-def]
        custom = [
            path(
                "<str:key>/<str:action>/",
                self.admin_site.admin_view(self.action_view),
                name="indexing_managedmodel_action",
            ),
        ]
        return custom + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context=None):  # type: ignore[no-untyped-def]
        from indexing.model_store import hub_endpoint, hub_offline
        from search.model_overview import models_overview, models_status

        context = {
            **self.admin_site.each_context(request),
            "title": "Models",
            "opts": self.model._meta,
            "models": models_overview(),
            "status": models_status(),
            "can_change": self.has_change_permission(request),
            "offline": hub_offline(),
            "endpoint": hub_endpoint(),
        }
        return TemplateResponse(request, self.change_list_template, context)

    def action_view(self, request: HttpRequest, key: str, action: str) -> HttpResponse:
        from indexing.model_store import ModelPullError, model_verify
        from search.model_jobs import model_pull_queue
        from search.model_prune import models_prune
        from search.model_switch import ModelError, model_activate

        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        back = reverse("admin:indexing_managedmodel_changelist")
        try:
            if action == "pull":
                model_pull_queue(key=key, activate=request.POST.get("activate") == "1")
                messages.info(request, f"{key}: download queued; this page shows its progress.")
            elif action == "activate":
                row = model_activate(key=key)
                messages.success(
                    request,
                    f"{key} is the active model."
                    if row.role == "active"
                    else f"{key} is the candidate: search switches once it is ready.",
                )
            elif action == "verify":
                checks = model_verify(known_model(key))
                bad = [c for c in checks if not c.ok]
                level = messages.ERROR if bad else messages.SUCCESS
                text = "; ".join(f"{c.name}: {c.detail}" for c in (bad or checks))
                messages.add_message(request, level, f"{key}: {text}")
            elif action == "prune":
                reports = models_prune(keys=None if key == "retired" else [key])
                summary = ", ".join(f"{r.model_name} ({r.embeddings} embeddings)" for r in reports)
                messages.success(request, f"Pruned: {summary or 'nothing to prune'}.")
            else:
                return HttpResponseNotAllowed(["POST"])
        except (ModelError, ModelPullError, KeyError) as exc:
            messages.error(request, str(exc).strip("'\""))
        return HttpResponseRedirect(back)
