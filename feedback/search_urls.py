"""The search page's URLs, under the `search:` names (included at /search/)."""

from django.urls import path

from feedback import search_views
from search import views

app_name = "search"

urlpatterns = [
    path("", search_views.search_page, name="page"),
    path("example/<str:token>/", views.example_thumbnail, name="example"),
]
