"""/api/v1/models/: list, status, pull, verify, activate, prune the encoder models (staff)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cbir_site.errors import ConflictError, InvalidInputError, NotFoundError
from indexing.model_catalogue import catalogue, known_model
from indexing.model_store import hub_offline, model_verify, offline_message
from search.model_overview import models_overview
from search.model_overview import models_status as _models_status
from search.model_prune import models_prune
from search.model_switch import ModelError, model_activate


class IsStaff(BasePermission):
    message = "Only staff may manage the models."

    def has_permission(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        return bool(request.user and request.user.is_active and request.user.is_staff)


class ModelOutput(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    kind = serializers.CharField()
    recommended = serializers.BooleanField()
    download_bytes = serializers.IntegerField(help_text="Approximate size of the download.")
    stored_bytes = serializers.IntegerField(help_text="Bytes its pulled files take here.")
    present = serializers.BooleanField(help_text="Its weights are on this machine.")
    identity = serializers.CharField(allow_null=True, help_text="Stored with its embeddings.")
    role = serializers.CharField(
        allow_blank=True, help_text='"active", "candidate", "retired", or "" (not in use).'
    )
    embeddings = serializers.IntegerField()
    pull_state = serializers.ChoiceField(choices=["idle", "queued", "running", "done", "failed"])
    pull_done = serializers.IntegerField()
    pull_total = serializers.IntegerField(allow_null=True)
    pull_message = serializers.CharField(allow_blank=True)
    switch_note = serializers.CharField(allow_blank=True)
    note = serializers.CharField(allow_blank=True)


class GalleryProgressOutput(serializers.Serializer):
    gallery = serializers.CharField()
    ready = serializers.IntegerField()
    embedded = serializers.IntegerField()
    progress = serializers.FloatField()


class CandidateModelOutput(serializers.Serializer):
    key = serializers.CharField()
    model_name = serializers.CharField()
    since = serializers.DateTimeField(allow_null=True)
    ready_images = serializers.IntegerField()
    embedded = serializers.IntegerField()
    coverage = serializers.FloatField()
    cutoffs = serializers.ChoiceField(choices=["fitted", "too-small", "missing"])
    statistics_missing = serializers.ListField(child=serializers.CharField())
    waiting_for = serializers.ListField(child=serializers.CharField())
    note = serializers.CharField(allow_blank=True)
    galleries = GalleryProgressOutput(many=True)


class ActiveModelOutput(serializers.Serializer):
    key = serializers.CharField(allow_null=True)
    model_name = serializers.CharField()
    since = serializers.DateTimeField(allow_null=True)
    source = serializers.ChoiceField(choices=["managed", "settings"])


class ModelsStatusOutput(serializers.Serializer):
    active = ActiveModelOutput()
    candidate = CandidateModelOutput(allow_null=True)
    retired = serializers.ListField(child=serializers.CharField())
    switch_coverage = serializers.FloatField()


class FileCheckOutput(serializers.Serializer):
    name = serializers.CharField()
    ok = serializers.BooleanField()
    detail = serializers.CharField()


class PruneInput(serializers.Serializer):
    models = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        help_text="Keys to prune; default: every retired model.",
    )


class PruneOutput(serializers.Serializer):
    model_name = serializers.CharField()
    embeddings = serializers.IntegerField()
    statistics = serializers.IntegerField()
    calibrations = serializers.IntegerField()
    overrides = serializers.IntegerField()
    file_bytes = serializers.IntegerField()


class PullInput(serializers.Serializer):
    activate = serializers.BooleanField(default=False, help_text="Activate it once pulled.")


def _model(key: str):  # type: ignore[no-untyped-def]
    if key not in catalogue():
        raise NotFoundError(f"No model named {key!r}; known: {', '.join(sorted(catalogue()))}.")
    return known_model(key)


class ModelListApi(APIView):
    """The known models: size, whether on this machine, identity, role, pull progress."""

    permission_classes = [IsStaff]

    @extend_schema(responses=ModelOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(ModelOutput(models_overview(), many=True).data)


class ModelStatusApi(APIView):
    """The active model, the candidate's readiness and its progress per gallery."""

    permission_classes = [IsStaff]

    @extend_schema(responses=ModelsStatusOutput)
    def get(self, request: Request) -> Response:
        return Response(ModelsStatusOutput(_models_status()).data)


class ModelPullApi(APIView):
    """Queue a background download (202); follow it in GET /api/v1/models/."""

    permission_classes = [IsStaff]

    @extend_schema(request=PullInput, responses={202: ModelOutput})
    def post(self, request: Request, key: str) -> Response:
        from search.model_jobs import model_pull_queue

        model = _model(key)
        data = PullInput(data=request.data)
        data.is_valid(raise_exception=True)
        if not model.downloadable:
            raise InvalidInputError(f"{key} ships with the product: nothing to pull.")
        if hub_offline():
            raise InvalidInputError(offline_message(model), code="offline")
        try:
            model_pull_queue(key=key, activate=data.validated_data["activate"])
        except ModelError as exc:
            raise ConflictError(str(exc)) from exc
        row = next(r for r in models_overview() if r["key"] == key)
        return Response(ModelOutput(row).data, status=status.HTTP_202_ACCEPTED)


class ModelVerifyApi(APIView):
    """Check the model's pulled files against the hub's checksums."""

    permission_classes = [IsStaff]

    @extend_schema(request=None, responses=FileCheckOutput(many=True))
    def post(self, request: Request, key: str) -> Response:
        checks = model_verify(_model(key))
        return Response(FileCheckOutput(checks, many=True).data)


class ModelActivateApi(APIView):
    """Make the model the candidate; search switches once it is ready (see status)."""

    permission_classes = [IsStaff]

    @extend_schema(request=None, responses=ModelsStatusOutput)
    def post(self, request: Request, key: str) -> Response:
        _model(key)
        try:
            model_activate(key=key)
        except ModelError as exc:
            raise ConflictError(str(exc)) from exc
        return Response(ModelsStatusOutput(_models_status()).data)


class ModelPruneApi(APIView):
    """Delete retired models' embeddings, statistics, cutoffs and downloaded files."""

    permission_classes = [IsStaff]

    @extend_schema(request=PruneInput, responses=PruneOutput(many=True))
    def post(self, request: Request) -> Response:
        data = PruneInput(data=request.data)
        data.is_valid(raise_exception=True)
        keys = data.validated_data.get("models") or None
        try:
            reports = models_prune(keys=keys)
        except ModelError as exc:
            raise ConflictError(str(exc)) from exc
        return Response(PruneOutput(reports, many=True).data)
