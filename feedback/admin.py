"""Admin for collection managers: review expansions, see each image's feedback history.

Staff see only rows under galleries they own (the same rule as the gallery admin).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from feedback.expansion_service import expansion_set_status
from feedback.models import Expansion, Judgement, SearchSession
from galleries.admin import ManagedOnlyMixin


@admin.register(Expansion)
class ExpansionAdmin(ManagedOnlyMixin, admin.ModelAdmin):
    gallery_path = "image__gallery"
    list_display = [
        "text",
        "image",
        "source",
        "status",
        "support",
        "supporters",
        "rejections",
        "updated_at",
    ]
    list_filter = ["status", "source", "model_name"]
    search_fields = ["text", "image__original_filename"]
    list_select_related = ["image"]
    actions = ["approve", "remove", "readmit"]
    readonly_fields = [
        "image",
        "gallery_id",
        "model_name",
        "source",
        "text",
        "text_key",
        "support",
        "supporters",
        "rejections",
        "created_by",
        "created_at",
        "updated_at",
    ]
    exclude = ["vector"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # captions are added through the API or the image's page; queries by feedback

    @admin.action(description="Approve: always use for search (counts toward the cap)")
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set(request, queryset, Expansion.Status.APPROVED)

    @admin.action(description="Remove: never use for search")
    def remove(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set(request, queryset, Expansion.Status.REMOVED)

    @admin.action(description="Back to automatic admission (by support)")
    def readmit(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set(request, queryset, Expansion.Status.CANDIDATE)

    def _set(self, request: HttpRequest, queryset: QuerySet, status: str) -> None:
        for expansion in queryset:
            expansion_set_status(expansion=expansion, status=status)
        self.message_user(request, f"{queryset.count()} expansions now {status}.", messages.SUCCESS)


@admin.register(Judgement)
class JudgementAdmin(ManagedOnlyMixin, admin.ModelAdmin):
    """The feedback history of the images under a manager's galleries (read only)."""

    gallery_path = "image__gallery"
    list_display = ["created_at", "image", "label", "rank", "score", "user", "query"]
    list_filter = ["label", "created_at"]
    search_fields = ["image__original_filename", "session__query_text", "user__username"]
    list_select_related = ["image", "session", "user"]
    date_hierarchy = "created_at"

    @admin.display(description="query")
    def query(self, obj: Judgement) -> str:
        return obj.session.query_text

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False  # the log is append-only

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(SearchSession)
class SearchSessionAdmin(admin.ModelAdmin):
    """Sessions are personal: superusers only (for support and audits)."""

    list_display = ["created_at", "user", "query_text", "mode", "composition"]
    search_fields = ["query_text", "user__username"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False
