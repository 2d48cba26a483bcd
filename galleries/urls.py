from django.urls import path

from galleries import bulk_views, views

app_name = "galleries"

urlpatterns = [
    path("galleries/", views.gallery_list, name="list"),
    path("galleries/<slug:slug>/", views.gallery_detail, name="detail"),
    path("galleries/<slug:slug>/upload/", views.gallery_upload, name="upload"),
    path("galleries/<slug:slug>/bulk/", bulk_views.gallery_bulk, name="bulk"),
    path("images/<int:image_id>/", views.image_detail, name="image"),
    path("images/<int:image_id>/delete/", views.image_delete, name="image-delete"),
]
