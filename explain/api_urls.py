"""Included by cbir_site/api_urls.py into the `api` namespace (the only import of this app)."""

from django.urls import path

from explain import apis

urlpatterns = [
    path(
        "search/sessions/<uuid:session_id>/iterations/<int:number>/explain/<int:image_id>/",
        apis.ExplanationApi.as_view(),
        name="session-explain",
    ),
    path(
        "search/sessions/<uuid:session_id>/iterations/<int:number>/explain/<int:image_id>/"
        "overlay.png",
        apis.ExplanationOverlayApi.as_view(),
        name="session-explain-overlay",
    ),
]
