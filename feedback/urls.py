from django.urls import path

from feedback import views

app_name = "feedback"

urlpatterns = [
    path("", views.session_list, name="sessions"),
    path("<uuid:session_id>/", views.session_page, name="session"),
    path("<uuid:session_id>/refine/", views.session_refine, name="refine"),
    path("<uuid:session_id>/delete/", views.session_delete, name="delete"),
]
