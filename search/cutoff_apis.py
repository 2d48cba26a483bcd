"""GET /api/v1/cutoffs/: a model's cutoff parameters and where each came from (staff only)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cbir_site.errors import NotFoundError, PermissionDeniedError
from galleries import selectors
from indexing.models import Embedding
from indexing.runtime import active_model_name
from search.cutoff_models import CutoffCalibration, CutoffSource, GalleryCutoffOverride
from search.cutoffs import PARAMETERS, cutoff_parameters


class CutoffValueOutput(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.FloatField()
    source = serializers.ChoiceField(choices=CutoffSource.values)
    default = serializers.FloatField(help_text="The deployment's setting for this parameter.")
    fitted_at = serializers.DateTimeField(allow_null=True)
    sample_size = serializers.IntegerField(allow_null=True, help_text="Images or marks fitted on.")
    description = serializers.CharField()


class CalibrationOutput(serializers.ModelSerializer):
    class Meta:
        model = CutoffCalibration
        fields = ["parameter", "value", "source", "sample_size", "score", "detail", "fitted_at"]


class CutoffsOutput(serializers.Serializer):
    model_name = serializers.CharField()
    active = serializers.BooleanField(help_text="Whether this is the model searches use now.")
    gallery = serializers.CharField(allow_null=True)
    parameters = CutoffValueOutput(many=True, help_text="The values in force, with their source.")
    calibrations = CalibrationOutput(many=True, help_text="Every fit stored for the model.")


class CutoffsApi(APIView):
    """The cutoff parameters of a model (default: the active one), for a gallery if given."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[
            OpenApiParameter("model", str, required=False, description="Default: the active."),
            OpenApiParameter("gallery", str, required=False, description="A gallery you manage."),
        ],
        responses=CutoffsOutput,
    )
    def get(self, request: Request) -> Response:
        if not (request.user.is_active and request.user.is_staff):
            raise PermissionDeniedError("Only staff may read the cutoff calibrations.")
        active = active_model_name()
        model_name = request.query_params.get("model") or active
        if model_name != active and not _known(model_name):
            raise NotFoundError(f"No model named {model_name!r} in this deployment.")
        slug = request.query_params.get("gallery")
        gallery = selectors.gallery_get_managed(request.user, slug=slug) if slug else None
        values = cutoff_parameters(model_name=model_name, gallery=gallery).values
        body = {
            "model_name": model_name,
            "active": model_name == active,
            "gallery": slug or None,
            "parameters": [
                {
                    "name": name,
                    "value": v.value,
                    "source": v.source,
                    "default": PARAMETERS[name].default(),
                    "fitted_at": v.fitted_at,
                    "sample_size": v.sample_size,
                    "description": PARAMETERS[name].description,
                }
                for name, v in values.items()
            ],
            "calibrations": CutoffCalibration.objects.filter(model_name=model_name),
        }
        return Response(CutoffsOutput(body).data)


def _known(model_name: str) -> bool:
    return (
        Embedding.objects.filter(model_name=model_name).exists()
        or CutoffCalibration.objects.filter(model_name=model_name).exists()
        or GalleryCutoffOverride.objects.filter(model_name=model_name).exists()
    )
