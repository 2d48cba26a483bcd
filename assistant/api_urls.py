"""Included by cbir_site/api_urls.py into the `api` namespace."""

from django.urls import path

from assistant import apis

urlpatterns = [
    path("assist/", apis.AssistStartApi.as_view(), name="assist"),
    path("assist/<uuid:request_id>/", apis.AssistDetailApi.as_view(), name="assist-detail"),
]
