"""REST endpoints for search sessions: read iterations, judge results, refine.

Sessions belong to their user: anyone else gets 404. Judged images must be
visible to the user; refining re-checks which galleries they may still see.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from cbir_site import bounds
from cbir_site.errors import NotFoundError
from cbir_site.filtering import filtered
from cbir_site.pagination import PastEnd, page_of, paginate, query_page, query_page_size
from feedback import expansion_selectors, selectors, services
from feedback.expansion_service import caption_add, expansion_set_status
from feedback.filters import SessionFilter
from feedback.history import history_entry_delete
from feedback.models import Expansion, Judgement, SearchIteration, SearchSession
from feedback.rocchio import RocchioParams
from galleries import selectors as gallery_selectors
from galleries.serializers import ImageOutput
from indexing.runtime import get_encoder
from search.fallback import closest_notice
from search.result_filters import SORT_CHOICES


class ShownResultOutput(serializers.Serializer):
    rank = serializers.IntegerField()
    score = serializers.FloatField(allow_null=True, help_text="null for pinned images")
    label = serializers.CharField(allow_null=True, help_text="your current judgement")
    below_cutoff = serializers.BooleanField(
        help_text="true for a `closest` item: shown although it did not pass the cutoff"
    )
    image = ImageOutput()


class IterationOutput(serializers.Serializer):
    """One iteration; `results` is one page of them (count / page / page_size alongside)."""

    session = serializers.UUIDField(source="session_id")
    number = serializers.IntegerField()
    kind = serializers.CharField()
    mode = serializers.CharField()
    total = serializers.IntegerField(help_text="hits of the search (threshold modes: all pages)")
    params = serializers.JSONField()
    created_at = serializers.DateTimeField()
    results = ShownResultOutput(many=True, source="shown", help_text="the confident results")
    closest = ShownResultOutput(
        many=True,
        help_text="cutoff modes, when no image passed the cutoff: the best-scoring images "
        "below it (not paginated, at most a dozen), judgeable like results; otherwise empty",
    )
    notice = serializers.CharField(allow_null=True, help_text="set when `closest` is shown")


class SessionOutput(serializers.ModelSerializer):
    iterations = serializers.SerializerMethodField()
    times = serializers.SerializerMethodField(
        help_text="?distinct=true: how often this query was run (else null)"
    )

    class Meta:
        model = SearchSession
        fields = [
            "id",
            "query_text",
            "negative_text",
            "example_image_ids",
            "negative_image_ids",
            "uploaded_example",
            "mode",
            "composition",
            "model_name",
            "created_at",
            "iterations",
            "times",
        ]

    def get_times(self, session: SearchSession) -> int | None:
        return getattr(session, "times", None)

    def get_iterations(self, session: SearchSession) -> list[int]:
        return list(session.iterations.values_list("number", flat=True))


class JudgementInput(serializers.Serializer):
    image_id = serializers.IntegerField()
    label = serializers.ChoiceField(choices=Judgement.Label.values)
    iteration = serializers.IntegerField(
        required=False, min_value=0, help_text="where it was shown (default: the latest)"
    )


class JudgementOutput(serializers.ModelSerializer):
    iteration = serializers.IntegerField(source="iteration.number")

    class Meta:
        model = Judgement
        fields = ["id", "image_id", "label", "iteration", "rank", "score", "created_at"]


class RefineInput(serializers.Serializer):
    alpha = serializers.FloatField(
        required=False, help_text="weight of the query", **bounds.ROCCHIO_WEIGHT.limits
    )
    beta = serializers.FloatField(
        required=False,
        help_text="weight of the relevant centroid",
        **bounds.ROCCHIO_WEIGHT.limits,
    )
    gamma = serializers.FloatField(
        required=False,
        help_text="weight of the non-relevant centroid",
        **bounds.ROCCHIO_WEIGHT.limits,
    )
    judged = serializers.ChoiceField(
        choices=services.JUDGED_CHOICES,
        default="none",
        help_text="pin: show relevant judged images first and hide the rest you judged; "
        "hide: hide everything you judged",
    )
    pseudo_positives = serializers.IntegerField(
        required=False,
        default=0,
        **bounds.PSEUDO_POSITIVES.limits,
        help_text="pseudo-relevance feedback: take the top P of the latest iteration as relevant",
    )
    pseudo_negatives = serializers.BooleanField(
        default=False, help_text="with pseudo_positives: the bottom P as non-relevant"
    )


def iteration_body(request: Request, iteration: SearchIteration) -> dict:
    """The iteration with one page of its results (?page=, ?page_size=; default the session's)."""
    filters = request.query_params  # gallery, uploaded_after, ..., sort: search/result_filters.py
    shown = selectors.iteration_results(request.user, iteration, filters)
    default_size = min(iteration.session.params.get("k") or 24, int(bounds.k_bound().maximum))
    size = query_page_size(request.query_params.get("page_size"), default=default_size, strict=True)
    number = query_page(request.query_params.get("page"))
    page = page_of(shown, number, size, past_end=PastEnd.EMPTY)
    iteration.shown = list(page)
    iteration.closest = selectors.iteration_closest(request.user, iteration, filters)
    iteration.notice = closest_notice(iteration.closest)
    body = dict(IterationOutput(iteration, context={"request": request}).data)
    body.update({"count": page.paginator.count, "page": number, "page_size": size})
    return body


class SessionListApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "distinct",
                bool,
                required=False,
                description="true: each distinct query once (its latest session), with `times`.",
            )
        ],
        responses=SessionOutput(many=True),
        operation_id="search_sessions_list",
    )
    def get(self, request: Request) -> Response:
        sessions = SessionFilter(request.query_params, queryset=selectors.sessions_of(request.user))
        return paginate(
            request, filtered(sessions, strict=True), lambda page: SessionOutput(page, many=True)
        )


class SessionDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=SessionOutput)
    def get(self, request: Request, session_id: str) -> Response:
        session = services.session_get(user=request.user, session_id=session_id)
        return Response(SessionOutput(session).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "repeats",
                bool,
                required=False,
                description="true: also every other session of the same query (as the history "
                "page's Remove does).",
            )
        ],
        responses={204: None},
    )
    def delete(self, request: Request, session_id: str) -> Response:
        """Delete the session with its iterations and judgements."""
        session = services.session_get(user=request.user, session_id=session_id)
        repeats = request.query_params.get("repeats", "").lower() in ("1", "true", "yes")
        history_entry_delete(user=request.user, session=session, with_repeats=repeats)
        return Response(status=status.HTTP_204_NO_CONTENT)


FILTER_PARAMETERS = [
    OpenApiParameter("gallery", str, many=True, required=False, description="gallery slugs"),
    OpenApiParameter("uploaded_after", OpenApiTypes.DATE, required=False),
    OpenApiParameter("uploaded_before", OpenApiTypes.DATE, required=False),
    OpenApiParameter("uploader", str, required=False, description="the uploader's username"),
    OpenApiParameter("file_format", str, many=True, required=False, description="JPEG, PNG, ..."),
    OpenApiParameter(
        "sort",
        str,
        required=False,
        enum=[value for value, _ in SORT_CHOICES],
        description="'' best match first (default); -uploaded newest first; uploaded; name; -name",
    ),
]


class IterationDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=FILTER_PARAMETERS, responses=IterationOutput)
    def get(self, request: Request, session_id: str, number: int) -> Response:
        session = services.session_get(user=request.user, session_id=session_id)
        return Response(iteration_body(request, services.iteration_get(session, number)))


class JudgementApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=JudgementInput, responses={201: JudgementOutput, 200: JudgementOutput})
    def post(self, request: Request, session_id: str) -> Response:
        session = services.session_get(user=request.user, session_id=session_id)
        data = JudgementInput(data=request.data)
        data.is_valid(raise_exception=True)
        judgement, created = services.judgement_record(
            session=session,
            user=request.user,
            image_id=data.validated_data["image_id"],
            label=data.validated_data["label"],
            iteration_number=data.validated_data.get("iteration"),
        )
        body = JudgementOutput(judgement).data if judgement else {"label": "withdrawn"}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class RefineApi(APIView):
    permission_classes = [IsAuthenticated]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "search"

    @extend_schema(request=RefineInput, responses={201: IterationOutput})
    def post(self, request: Request, session_id: str) -> Response:
        session = services.session_get(user=request.user, session_id=session_id)
        data = RefineInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        defaults = services.rocchio_defaults()
        params = RocchioParams(
            alpha=fields.get("alpha", defaults.alpha),
            beta=fields.get("beta", defaults.beta),
            gamma=fields.get("gamma", defaults.gamma),
        )
        iteration, _ = services.search_session_refine(
            session=session,
            user=request.user,
            params=params,
            judged=fields["judged"],
            pseudo_positives=fields["pseudo_positives"],
            pseudo_negatives=fields["pseudo_negatives"],
        )
        return Response(iteration_body(request, iteration), status=status.HTTP_201_CREATED)


class CaptionOutput(serializers.ModelSerializer):
    class Meta:
        model = Expansion
        fields = ["id", "text", "created_at"]


class CaptionInput(serializers.Serializer):
    text = serializers.CharField(max_length=1000)


class ImageCaptionsApi(APIView):
    """Captions of an image: everyone who may see it reads them, its gallery's owners write them.

    Query texts users confirmed for the image are never listed: they serve search only.
    """

    @extend_schema(responses=CaptionOutput(many=True), operation_id="image_captions_list")
    def get(self, request: Request, image_id: int) -> Response:
        image = gallery_selectors.image_get_visible(request.user, image_id=image_id)
        return Response(CaptionOutput(expansion_selectors.captions_of(image), many=True).data)

    @extend_schema(request=CaptionInput, responses={201: CaptionOutput})
    def post(self, request: Request, image_id: int) -> Response:
        image = gallery_selectors.image_get_visible(request.user, image_id=image_id)
        gallery_selectors.gallery_get_managed(request.user, slug=image.gallery.slug)
        data = CaptionInput(data=request.data)
        data.is_valid(raise_exception=True)
        caption = caption_add(
            image=image, text=data.validated_data["text"], user=request.user, encoder=get_encoder()
        )
        return Response(CaptionOutput(caption).data, status=status.HTTP_201_CREATED)


class ImageCaptionDetailApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, image_id: int, caption_id: int) -> Response:
        image = gallery_selectors.image_get_visible(request.user, image_id=image_id)
        gallery_selectors.gallery_get_managed(request.user, slug=image.gallery.slug)
        caption = expansion_selectors.captions_of(image).filter(pk=caption_id).first()
        if caption is None:
            raise NotFoundError(f"Image {image_id} has no caption {caption_id}.")
        expansion_set_status(expansion=caption, status=Expansion.Status.REMOVED)
        return Response(status=status.HTTP_204_NO_CONTENT)
