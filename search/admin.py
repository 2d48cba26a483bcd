"""Read-only admin of the per-model cutoff calibrations (every staff member may look).

Values are written by the fitting tasks (search/cutoff_fit.py), never by hand:
a manager's value is a gallery override, set on the gallery's page.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from search.cutoff_models import CutoffCalibration


@admin.register(CutoffCalibration)
class CutoffCalibrationAdmin(admin.ModelAdmin):
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

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False
