"""Admin for collection managers: review expansions, see each image's feedback history.

Staff see only rows under galleries they own (the same rule as the gallery admin).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from cbir_site.errors import ApplicationError
from feedback.expansion_service import caption_add, expansion_delete, expansion_set_status
from feedback.models import Expansion, Judgement, SearchSession
from galleries.admin import ManagedOnlyMixin, thumbnail_html
from galleries.models import Image
from search.gallery_admin import ImageAdmin as IndexedImageAdmin


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
        done = 0
        for expansion in queryset:
            try:
                expansion_set_status(expansion=expansion, status=status)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{expansion}: {exc}", messages.ERROR)
        if done:
            rows = "1 expansion" if done == 1 else f"{done} expansions"
            self.message_user(request, f"{rows} set to {status}.", messages.SUCCESS)

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        # Status is the only editable field; the service keeps vector and indexes in step.
        if change and "status" in form.changed_data:
            try:
                expansion_set_status(expansion=obj, status=obj.status)
            except ApplicationError as exc:
                self.message_user(request, str(exc), messages.ERROR)

    def delete_model(self, request, obj):  # type: ignore[no-untyped-def]
        expansion_delete(expansion=obj)

    def delete_queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        for expansion in queryset:
            expansion_delete(expansion=expansion)


@admin.register(Judgement)
class JudgementAdmin(ManagedOnlyMixin, admin.ModelAdmin):
    """The feedback history of the images under a manager's galleries (read only).

    Managers see what was asked and answered, not who asked: the judge (and the
    session, whose owner is the judge) is for superusers (support and audits)
    only, in every column, field, search, filter and URL lookup. Titles use
    Judgement.__str__, which never names the user.
    """

    gallery_path = "image__gallery"
    list_display = ["created_at", "thumb", "image", "label", "rank", "score", "query"]
    ordering = ["-created_at", "-id"]  # the latest first: what a manager reviews
    list_filter = ["label", "created_at"]  # one image: the link on its admin page
    search_fields = ["image__original_filename", "session__query_text"]
    list_select_related = ["image", "session"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at", "query"]
    # Superusers also see these; the session names its user (SearchSessionAdmin).
    JUDGE_FIELDS = ("user", "session", "iteration")

    @admin.display(description="query")
    def query(self, obj: Judgement) -> str:
        return obj.session.query_text

    @admin.display(description="")
    def thumb(self, obj: Judgement) -> str:
        return thumbnail_html(obj.image_id)

    def get_list_display(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        shown = list(super().get_list_display(request))
        return [*shown, "user"] if request.user.is_superuser else shown

    def get_list_select_related(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        joined = list(super().get_list_select_related(request))
        return [*joined, "user"] if request.user.is_superuser else joined

    def get_search_fields(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        fields = list(super().get_search_fields(request))
        return [*fields, "user__username"] if request.user.is_superuser else fields

    def get_fields(self, request: HttpRequest, obj=None):  # type: ignore[no-untyped-def]
        shown = ["created_at", "image", "label", "rank", "score", "query"]
        return [*shown, *self.JUDGE_FIELDS] if request.user.is_superuser else shown

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        # The admin accepts URL lookups on any local field (?user=5, ?user__id__exact=5,
        # ?user__gt=5): the rows they leave would tell a manager who judged what.
        if not request.user.is_superuser and lookup.split("__", 1)[0] in self.JUDGE_FIELDS:
            return False
        return super().lookup_allowed(lookup, value, request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False  # the log is append-only

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        # Never deleted on their own (no bulk action, no delete view below), but deleting an
        # image takes its judgements along, and the admin asks this of every such row before
        # it offers to delete the image: False here made images with feedback undeletable.
        return obj is not None and self._allowed(request, obj)

    def delete_view(self, request, object_id, extra_context=None):  # type: ignore[no-untyped-def]
        raise PermissionDenied("The judgement log is append-only.")

    def change_view(self, request, object_id, form_url="", extra_context=None):  # type: ignore[no-untyped-def]
        extra = {**(extra_context or {}), "show_delete": False}
        return super().change_view(request, object_id, form_url, extra)


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


class CaptionFormSet(BaseInlineFormSet):
    """Captions are written through the caption service (text vector, index feed)."""

    user = None  # set per request by CaptionInline.get_formset

    def save(self, commit: bool = True) -> list:
        from indexing.runtime import get_encoder

        # What the admin's change message reads.
        self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
        for form in self.forms:
            old = form.instance if form.instance.pk else None
            if form in self.deleted_forms:
                if old is not None:
                    expansion_delete(expansion=old)
                    self.deleted_objects.append(old)
                continue
            if not form.has_changed():
                continue
            text = form.cleaned_data.get("text", "")
            if old is not None:  # an edited caption replaces the old one
                expansion_delete(expansion=old)
            caption = caption_add(
                image=self.instance, text=text, user=self.user, encoder=get_encoder()
            )
            if old is None:
                self.new_objects.append(caption)
            else:
                self.changed_objects.append((caption, ["text"]))
        return [*self.new_objects, *(c for c, _ in self.changed_objects)]


class CaptionInline(admin.TabularInline):
    """Manager-entered captions: shown to everyone who may see the image, always searched."""

    model = Expansion
    formset = CaptionFormSet
    fields = ["text", "status", "created_by", "created_at"]
    readonly_fields = ["status", "created_by", "created_at"]
    extra = 1
    verbose_name = "caption"
    verbose_name_plural = "captions (shown to everyone who may see the image)"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(source=Expansion.Source.CAPTION)

    def get_formset(self, request, obj=None, **kwargs):  # type: ignore[no-untyped-def]
        formset = super().get_formset(request, obj, **kwargs)
        formset.user = request.user
        return formset

    # The image admin around this inline has already checked the user's gallery.
    def has_view_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return _staff(request)

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return _staff(request)

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return _staff(request)

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return _staff(request)


class QueryExpansionInline(admin.TabularInline):
    """Confirmed queries attached to the image (scoring only); approve or remove in the list."""

    model = Expansion
    fields = ["text", "status", "support", "supporters", "rejections", "updated_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name = "confirmed query"
    verbose_name_plural = "confirmed queries (used for scoring only, never shown to users)"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(source=Expansion.Source.QUERY)

    def has_view_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return _staff(request)

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


def _staff(request: HttpRequest) -> bool:
    return request.user.is_active and request.user.is_staff


# The image page, as search extended it, gains its captions, expansions and judgement history
# (feedback depends on galleries and search, not back).
admin.site.unregister(Image)


@admin.register(Image)
class ImageAdmin(IndexedImageAdmin):
    inlines = [*IndexedImageAdmin.inlines, CaptionInline, QueryExpansionInline]
    readonly_fields = [*IndexedImageAdmin.readonly_fields, "feedback"]
    fields = [*IndexedImageAdmin.fields, "feedback"]

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
