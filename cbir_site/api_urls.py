from django.urls import include, path

from cbir_site.auth_apis import TokenObtainApi, TokenRevokeApi
from feedback import apis as feedback_apis
from feedback import search_apis as feedback_search_apis
from galleries import apis as gallery_apis
from galleries import bulk_apis
from indexing import apis as indexing_apis
from search import apis as search_apis
from search import model_apis
from search.cutoff_apis import CutoffsApi

app_name = "api"

urlpatterns = [
    path("auth/token/", TokenObtainApi.as_view(), name="token-obtain"),
    path("auth/token/revoke/", TokenRevokeApi.as_view(), name="token-revoke"),
    path("galleries/", gallery_apis.GalleryListApi.as_view(), name="gallery-list"),
    path("galleries/<slug:slug>/", gallery_apis.GalleryDetailApi.as_view(), name="gallery-detail"),
    path(
        "galleries/<slug:slug>/members/",
        gallery_apis.GalleryMembersApi.as_view(),
        name="gallery-members",
    ),
    path(
        "galleries/<slug:slug>/members/<int:user_id>/",
        gallery_apis.GalleryMemberDetailApi.as_view(),
        name="gallery-member-detail",
    ),
    path(
        "galleries/<slug:slug>/images/",
        gallery_apis.GalleryImagesApi.as_view(),
        name="gallery-images",
    ),
    path(
        "galleries/<slug:slug>/images/delete/",
        bulk_apis.GalleryImagesDeleteApi.as_view(),
        name="gallery-images-delete",
    ),
    path(
        "galleries/<slug:slug>/images/download/",
        bulk_apis.GalleryImagesDownloadApi.as_view(),
        name="gallery-images-download",
    ),
    path(
        "galleries/<slug:slug>/status/",
        indexing_apis.GalleryStatusApi.as_view(),
        name="gallery-status",
    ),
    path("images/<int:image_id>/", gallery_apis.ImageDetailApi.as_view(), name="image-detail"),
    path("images/<int:image_id>/file/", gallery_apis.ImageFileApi.as_view(), name="image-file"),
    path(
        "images/<int:image_id>/thumbnail/",
        gallery_apis.ImageThumbnailApi.as_view(),
        name="image-thumbnail",
    ),
    path(
        "images/<int:image_id>/captions/",
        feedback_apis.ImageCaptionsApi.as_view(),
        name="image-captions",
    ),
    path(
        "images/<int:image_id>/captions/<int:caption_id>/",
        feedback_apis.ImageCaptionDetailApi.as_view(),
        name="image-caption-detail",
    ),
    path("search/", feedback_search_apis.SearchApi.as_view(), name="search"),
    path("models/", model_apis.ModelListApi.as_view(), name="model-list"),
    path("models/status/", model_apis.ModelStatusApi.as_view(), name="model-status"),
    path("models/prune/", model_apis.ModelPruneApi.as_view(), name="model-prune"),
    path("models/<str:key>/pull/", model_apis.ModelPullApi.as_view(), name="model-pull"),
    path("models/<str:key>/verify/", model_apis.ModelVerifyApi.as_view(), name="model-verify"),
    path(
        "models/<str:key>/activate/", model_apis.ModelActivateApi.as_view(), name="model-activate"
    ),
    path("search/sessions/", feedback_apis.SessionListApi.as_view(), name="session-list"),
    path(
        "search/sessions/<uuid:session_id>/",
        feedback_apis.SessionDetailApi.as_view(),
        name="session-detail",
    ),
    path(
        "search/sessions/<uuid:session_id>/iterations/<int:number>/",
        feedback_apis.IterationDetailApi.as_view(),
        name="session-iteration",
    ),
    path(
        "search/sessions/<uuid:session_id>/judgements/",
        feedback_apis.JudgementApi.as_view(),
        name="session-judgements",
    ),
    path(
        "search/sessions/<uuid:session_id>/refine/",
        feedback_apis.RefineApi.as_view(),
        name="session-refine",
    ),
    path("encoder/", search_apis.EncoderStatusApi.as_view(), name="encoder"),
    path("cutoffs/", CutoffsApi.as_view(), name="cutoffs"),  # staff: per-model cutoff values
    path("", include("explain.api_urls")),  # "Why?": explanations of a session's results
    path("", include("assistant.api_urls")),  # query assistant: suggestions to accept
]
