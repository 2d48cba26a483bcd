"""A read-only list of suggestion requests, with which provider is on and where text goes."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse

from assistant.models import AssistRequest
from assistant.providers import provider_summary


def provider_notice() -> str:
    summary = provider_summary()
    if summary["provider"] == "off":
        return "Query assistant: off (CBIR_ASSISTANT). Query text is not sent anywhere."
    where = (
        f"query text is sent to {summary['url']}, outside this machine"
        if summary["leaves_machine"]
        else "query text stays on this machine"
    )
    return f"Query assistant: {summary['provider']} ({summary['model']}); {where}."


@admin.register(AssistRequest)
class AssistRequestAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "status", "provider", "model_name", "seconds", "cached")
    list_filter = ("status", "kind", "provider")
    # The query text is the user's own: shown on the detail page only, not in the list.
    readonly_fields = [f.name for f in AssistRequest._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        messages.info(request, provider_notice())
        return super().changelist_view(request, extra_context)
