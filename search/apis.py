"""Search's REST shapes (the search request and its results) and the encoder's status.

The search endpoint itself is feedback/search_apis.py: a signed-in search opens a session.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cbir_site import bounds
from cbir_site.errors import InvalidInputError
from galleries.serializers import ImageOutput
from indexing.runtime import encoder_status
from search.config import search_config
from search.fallback import CLOSEST_MAX
from search.request import Composition, Fusion, Mode, ModelRole, SearchRequest, values
from search.result_filters import SORT_CHOICES
from search.text_cut_methods import TEXT_CUTOFF_METHODS


class SearchInput(serializers.Serializer):
    text = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    image = serializers.FileField(required=False, help_text="An example image (multipart only).")
    image_id = serializers.IntegerField(
        required=False, help_text="Use a stored image as the example."
    )
    galleries = serializers.ListField(
        child=serializers.SlugField(),
        required=False,
        help_text="Gallery slugs; default: all you may see.",
    )
    image_ids = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="More stored example images."
    )
    negative_text = serializers.CharField(
        required=False, allow_blank=True, max_length=1000, help_text='"Not like this": words.'
    )
    negative_image_ids = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text='"Not like this": images.'
    )
    rephrasings = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=8,
        help_text="Accepted assistant rephrasings of `text`: each is searched (top k) and the "
        "rankings fused with `fusion`; the original's results are always among them.",
    )
    negative_suggestions = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        max_length=10,
        help_text='Accepted assistant "not like this" words, added to negative_text.',
    )
    text_weight = serializers.FloatField(required=False, default=1.0, **bounds.WEIGHT.limits)
    image_weight = serializers.FloatField(required=False, default=1.0, **bounds.WEIGHT.limits)
    negative_weight = serializers.FloatField(
        required=False,
        default=lambda: search_config().negative_weight,
        help_text='Weight of the "not like this" parts (default CBIR_NEGATIVE_WEIGHT).',
        **bounds.WEIGHT.limits,
    )
    composition = serializers.ChoiceField(
        choices=values(Composition),
        default=Composition.SUM.value,
        help_text="sum: one vector, the weighted sum of the parts. two_phase: the top M by the "
        "text, re-ranked by the example images, the two rankings fused (topk only).",
    )
    fusion = serializers.ChoiceField(choices=values(Fusion), default=Fusion.LOG_VOTE.value)
    first_phase = serializers.IntegerField(required=False, **bounds.FIRST_PHASE.limits)
    k = serializers.IntegerField(
        required=False, help_text="Results for top-k.", **bounds.k_bound().limits
    )
    mode = serializers.ChoiceField(
        choices=values(Mode),
        required=False,
        help_text=(
            "topk: the k best. static / dynamic / query: every hit closer than its gallery's "
            "cutoff, paginated (static T_static; dynamic T_g = T_static + w (m_g - M); query: "
            "m from the query's own top-n). auto (default): dynamic where every searched "
            "gallery has a statistic, else topk."
        ),
    )
    page = serializers.IntegerField(required=False, default=1, **bounds.PAGE.limits)
    page_size = serializers.IntegerField(required=False, **bounds.k_bound().limits)
    strict = serializers.BooleanField(
        default=False,
        help_text="Cutoff modes: when no image passes the cutoff, return nothing (no `closest`).",
    )
    model = serializers.ChoiceField(
        choices=values(ModelRole),
        default=ModelRole.ACTIVE.value,
        help_text="candidate (staff only): search with the model that is catching up to replace "
        "the active one (GET /api/v1/models/status/), over the images it has embedded so far. "
        "Such a search starts no feedback session.",
    )
    uploaded_after = serializers.DateField(
        required=False, help_text="Filter: images uploaded on or after this date (YYYY-MM-DD)."
    )
    uploaded_before = serializers.DateField(
        required=False, help_text="Filter: images uploaded on or before this date."
    )
    uploader = serializers.CharField(
        required=False, allow_blank=True, max_length=150, help_text="Filter: uploader's username."
    )
    file_format = serializers.ListField(
        child=serializers.CharField(max_length=16),
        required=False,
        help_text="Filter: file formats (JPEG, PNG, ...), any of them.",
    )
    sort = serializers.ChoiceField(
        choices=[value for value, _ in SORT_CHOICES],
        required=False,
        allow_blank=True,
        help_text="Order of the results: '' (best match first, the default), -uploaded (newest "
        "first), uploaded, name, -name. Filters and sort narrow `results`, `total` and `closest`; "
        "a signed-in search's session keeps the whole ranking (filter it again with the same "
        "parameters on the iteration endpoint).",
    )
    text_cutoff = serializers.ChoiceField(
        choices=list(TEXT_CUTOFF_METHODS),
        required=False,
        help_text="Text and composed queries in auto/dynamic mode: how the cutoff is calibrated "
        "(default CBIR_TEXT_CUTOFF). expected_f1: the depth of the ranking with the best "
        "expected F1, each image's chance of relevance read from its qbnorm z; qbnorm: "
        "z-score against the image's similarity to a bank of generic captions; autocut: the "
        "largest gap in the top scores; mixture: two Gaussians fitted to the top scores; "
        "querytime, dynamic: as the modes query, dynamic.",
    )

    def to_request(self, *, image_data: bytes | None = None) -> SearchRequest:
        """The validated fields as a SearchRequest; `image_data` is the upload's bytes.

        Multipart requests repeat list fields (galleries=a&galleries=b): read from the raw data.
        """
        fields = self.validated_data
        return SearchRequest(
            text=fields.get("text"),
            image_data=image_data,
            image_id=fields.get("image_id"),
            image_ids=fields.get("image_ids", ()) or self._many("image_ids"),
            negative_text=_negatives(fields),
            negative_image_ids=fields.get("negative_image_ids", ())
            or self._many("negative_image_ids"),
            rephrasings=fields.get("rephrasings", ()),
            text_weight=fields["text_weight"],
            image_weight=fields["image_weight"],
            negative_weight=fields["negative_weight"],
            composition=fields["composition"],
            fusion=fields["fusion"],
            first_phase=fields.get("first_phase"),
            gallery_slugs=fields.get("galleries") or self._raw("galleries") or None,
            k=fields.get("k"),
            mode=fields.get("mode"),
            page=fields.get("page", 1),
            page_size=fields.get("page_size"),
            strict=fields["strict"],
            text_cutoff=fields.get("text_cutoff"),
            model=fields["model"],
            filters=self._filters(fields),
        )

    def _raw(self, name: str) -> list[str]:
        getlist = getattr(self.initial_data, "getlist", None)
        return list(getlist(name)) if getlist is not None else []

    def _many(self, name: str) -> list[int]:
        """Repeated multipart fields (image_ids=1&image_ids=2) as integers."""
        try:
            return [int(v) for v in self._raw(name) if str(v).strip()]
        except ValueError as exc:
            raise InvalidInputError(f"{name} must be integers.") from exc

    def _filters(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The result filters given (search/result_filters.py); repeated multipart `file_format`."""
        given = {
            "uploaded_after": fields.get("uploaded_after"),
            "uploaded_before": fields.get("uploaded_before"),
            "uploader": fields.get("uploader"),
            "file_format": list(fields.get("file_format") or self._raw("file_format")),
            "sort": fields.get("sort"),
        }
        return {name: value for name, value in given.items() if value}


def _negatives(fields: dict[str, Any]) -> str | None:
    """negative_text with the accepted suggested negatives appended, comma-separated."""
    words = [fields.get("negative_text") or "", *fields.get("negative_suggestions", ())]
    joined = ", ".join(w.strip() for w in words if w and w.strip())
    return joined or fields.get("negative_text")


class SearchHitOutput(serializers.Serializer):
    rank = serializers.IntegerField()
    score = serializers.FloatField(
        help_text="Cosine similarity of unit vectors, in [-1, 1]; higher is closer."
    )
    distance = serializers.FloatField(
        help_text="Euclidean distance sqrt(2 - 2 * score); lower is closer."
    )
    below_cutoff = serializers.BooleanField(
        help_text="true for a `closest` item: shown although it did not pass the cutoff."
    )
    image = ImageOutput()


class CutoffParameterOutput(serializers.Serializer):
    value = serializers.FloatField()
    source = serializers.CharField()


class ThresholdOutput(serializers.Serializer):
    gallery = serializers.CharField(source="gallery.slug")
    distance = serializers.FloatField(
        allow_null=True, help_text="Euclidean distance cutoff: hits are closer (null: topk)."
    )
    similarity = serializers.FloatField(
        allow_null=True, help_text="The same cutoff as a cosine similarity (null: topk)."
    )
    source = serializers.ChoiceField(
        choices=[
            "dynamic",
            "static",
            "query",
            "topk",
            "expected_f1",
            "qbnorm",
            "autocut",
            "mixture",
        ],
        help_text="dynamic: from the gallery's statistic; static: T_static (no statistic or "
        "static mode); query: the query-time variant; topk: auto mode, the gallery has too few "
        "images for a statistic, so its best k hits are included. expected_f1, qbnorm, "
        "autocut, mixture: a text query's calibrated cutoff (text_cutoff); for qbnorm the "
        "similarity shown is the lowest any image of the gallery could pass with, each "
        "image's own z decides.",
    )
    parameters = serializers.DictField(
        child=CutoffParameterOutput(),
        help_text="The cutoff's parameters (static, weight, neighbours) for the search's model: "
        "each value and its source (default, fitted_collection, fitted_judgements, override).",
    )


class SearchOutput(serializers.Serializer):
    metric = serializers.CharField(
        help_text="What `score` is: cosine_similarity, or fusion:<method> for two_phase."
    )
    session = serializers.UUIDField(
        read_only=True, allow_null=True, help_text="Signed-in searches start a feedback session."
    )
    iteration = serializers.IntegerField(read_only=True, allow_null=True)
    composition = serializers.CharField()
    mode = serializers.CharField(help_text="The mode used (auto resolved).")
    thresholds = ThresholdOutput(many=True, help_text="Per searched gallery (threshold modes).")
    total = serializers.IntegerField(help_text="Hits in all pages.")
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    truncated = serializers.BooleanField(
        help_text="Threshold modes: more hits exist than CBIR_THRESHOLD_MAX_RESULTS."
    )
    model_name = serializers.CharField()
    k = serializers.IntegerField()
    query = serializers.ListField(child=serializers.CharField(), source="query_kinds")
    galleries = serializers.SerializerMethodField()
    encode_ms = serializers.FloatField()
    search_ms = serializers.FloatField()
    count = serializers.SerializerMethodField()
    results = SearchHitOutput(many=True, source="hits", help_text="The confident results.")
    closest = SearchHitOutput(
        many=True,
        help_text="Cutoff modes, when no image passed the cutoff (results empty) and strict is "
        "false: the best-scoring images of the same search below the cutoff, at most "
        f"min(k, {CLOSEST_MAX}), best first. Otherwise empty.",
    )
    notice = serializers.CharField(
        allow_null=True, help_text="A plain note when `closest` is shown (no confident match)."
    )

    def get_galleries(self, result) -> list[str]:  # type: ignore[no-untyped-def]
        return [g.slug for g in result.galleries]

    def get_count(self, result) -> int:  # type: ignore[no-untyped-def]
        return len(result.hits)


class EncoderStatusOutput(serializers.Serializer):
    kind = serializers.CharField()
    configured = serializers.CharField()
    loaded = serializers.BooleanField()
    name = serializers.CharField(allow_null=True)
    dim = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class EncoderStatusApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=EncoderStatusOutput)
    def get(self, request: Request) -> Response:
        return Response(EncoderStatusOutput(encoder_status()).data)
