from django.urls import path

from galleries import views

app_name = "galleries"

urlpatterns = [
    path("galleries/", views.gallery_list, name="list"),
    path("galleries/<slug:slug>/", views.gallery_detail, name="detail"),
    path("galleries/<slug:slug>/upload/", views.gallery_upload, name="upload"),
    path("images/<int:image_id>/", views.image_detail, name="image"),
    path("images/<int:image_id>/delete/", views.image_delete, name="image-delete"),
]
