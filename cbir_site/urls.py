from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from cbir_site import health
from cbir_site.throttling import throttled

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="search:page", permanent=False), name="home"),
    # Ahead of admin.site.urls, which still names it (admin:login): one sign-in rate for every
    # door, the admin's included.
    path("admin/login/", throttled("login")(admin.site.login)),
    path("admin/", admin.site.urls),
    path("accounts/login/", throttled("login")(auth_views.LoginView.as_view()), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("galleries.urls")),
    path("search/sessions/", include("feedback.urls")),
    path("search/", include("feedback.search_urls")),
    path("api/v1/", include("cbir_site.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: no inline script, CSP-clean.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]

# JSON under /api/, plain pages elsewhere (cbir_site/error_views.py).
handler400 = "cbir_site.error_views.bad_request"
handler403 = "cbir_site.error_views.permission_denied"
handler404 = "cbir_site.error_views.page_not_found"
handler500 = "cbir_site.error_views.server_error"
