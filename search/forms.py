from __future__ import annotations

from typing import Any

from django import forms

from cbir_site import bounds
from cbir_site.bounds import MAX_IMAGE_ID, parse_image_id
from search.config import search_config
from search.links import DEFAULT_WEIGHTS, is_default
from search.request import MAX_EXAMPLES, Composition, Fusion, Mode, ModelRole, SearchRequest
from search.wording import MODE_CHOICES

# Stored example images ("more like this" + "not like this") one web query may carry.
MAX_WEB_EXAMPLES = min(10, MAX_EXAMPLES)
ADVANCED = ("not_q", "composition", "fusion", "text_weight", "image_weight", "negative_weight")
COMPOSITION_LABELS = {
    Composition.SUM: "weighted sum: blend them into one query",
    Composition.TWO_PHASE: "two-phase: find by the words, order by the pictures",
}
FUSION_LABELS = {Fusion.LOG_VOTE: "log vote", Fusion.RRF: "reciprocal rank fusion"}


class ImageIdsField(forms.Field):
    """Repeated GET/POST values (like=12&like=15) as image ids, each once, in order."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        values = [value] if isinstance(value, str) else list(value)
        ids = []
        for raw in values:
            image_id = parse_image_id(str(raw))
            if image_id is None:
                raise forms.ValidationError(
                    "Example images are given by their number (a whole number); "
                    f"{str(raw).strip()[:20]!r} is not one.",
                    code="invalid",
                )
            ids.append(image_id)
        return list(dict.fromkeys(ids))


def _weight(label: str, initial: float) -> forms.FloatField:
    return forms.FloatField(
        label=label,
        required=False,
        initial=initial,
        **bounds.WEIGHT.limits,
        widget=forms.NumberInput(attrs={"step": "0.05"}),
    )


class SearchForm(forms.Form):
    q = forms.CharField(label="Describe what you are looking for", required=False, max_length=1000)
    image = forms.FileField(label="…or give an example image", required=False)
    # The kept copy of an earlier upload (search/example_store.py), while no new file replaces it.
    example = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    not_q = forms.CharField(label="Not like these words", required=False, max_length=1000)
    # Accepted query-assistant rephrasings, one per line (static/cbir/assistant.js fills it).
    rephrasings = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)
    composition = forms.ChoiceField(
        label="Words and pictures",
        required=False,
        initial=Composition.SUM.value,
        widget=forms.RadioSelect,
        choices=[(c.value, label) for c, label in COMPOSITION_LABELS.items()],
    )
    fusion = forms.ChoiceField(
        label="Two-phase: combine the two rankings by",
        required=False,
        initial=Fusion.LOG_VOTE.value,
        choices=[(f.value, label) for f, label in FUSION_LABELS.items()],
    )
    text_weight = _weight("Weight of the words", DEFAULT_WEIGHTS["text_weight"])
    image_weight = _weight("Weight of the example images", DEFAULT_WEIGHTS["image_weight"])
    negative_weight = _weight("Weight of “not like this”", DEFAULT_WEIGHTS["negative_weight"])
    image_id = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_IMAGE_ID, widget=forms.HiddenInput
    )
    like = ImageIdsField(required=False)
    unlike = ImageIdsField(required=False)
    galleries = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    k = forms.IntegerField(label="How many", required=False, **bounds.k_bound().limits)
    mode = forms.ChoiceField(label="Show", required=False, choices=MODE_CHOICES)
    page = forms.IntegerField(required=False, widget=forms.HiddenInput, **bounds.PAGE.limits)
    # Staff only, during a model switch (search/model_switch.py): try the candidate model.
    model = forms.ChoiceField(
        label="Model",
        required=False,
        choices=[
            (ModelRole.ACTIVE.value, "the active model"),
            (ModelRole.CANDIDATE.value, "the candidate (staff check)"),
        ],
    )

    def __init__(self, *args, gallery_choices, candidate: str | None = None, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["galleries"].choices = gallery_choices
        self.fields["k"].initial = search_config().default_k
        if candidate is None:
            del self.fields["model"]
        else:
            self.fields["model"].choices = [
                (ModelRole.ACTIVE.value, "the active model"),
                (ModelRole.CANDIDATE.value, f"the candidate {candidate} (staff check, no session)"),
            ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        image_id = data.get("image_id")
        like = list(dict.fromkeys([*([image_id] if image_id else []), *data.get("like", [])]))
        unlike = data.get("unlike", [])
        data["like"] = like
        both = [i for i in unlike if i in like]
        if both:
            self.add_error(
                "unlike",
                f"Image {both[0]} is both “more like this” and “not like this”: "
                "remove it from one.",
            )
        if len(like) + len(unlike) > MAX_WEB_EXAMPLES:
            self.add_error(
                None,
                f"At most {MAX_WEB_EXAMPLES} example images per search "
                "(“more like this” and “not like this” together): remove one first.",
            )
        if data.get("composition") == Composition.TWO_PHASE:
            self._check_two_phase(
                data, has_examples=bool(like or data.get("image") or data.get("example"))
            )
        return data

    def _check_two_phase(self, data: dict[str, Any], *, has_examples: bool) -> None:
        if not (data.get("q") or "").strip() or not has_examples:
            self.add_error(
                "composition",
                "Two-phase needs words and at least one example image (upload one, "
                "or use “more like this” on a result); or choose the weighted sum.",
            )
        if data.get("mode") not in (None, "", Mode.AUTO, Mode.TOPK):
            self.add_error(
                "mode",
                "Two-phase ranks a fixed set of candidates: choose “The best matches, "
                "however close” or “Only confident matches”.",
            )

    @property
    def advanced_open(self) -> bool:
        """Open the advanced section when it holds an error or a value other than the default."""
        if any(name in self.errors for name in ADVANCED):
            return True
        values = ((name, str(self.data.get(name) or "").strip()) for name in ADVANCED)
        return self.is_bound and any(v and not is_default(name, v) for name, v in values)

    def to_request(self, *, image_data: bytes | None = None) -> SearchRequest:
        """The search the valid form asks for; `image_data` is the uploaded or kept example."""
        fields = self.cleaned_data
        return SearchRequest(
            text=fields.get("q"),
            image_data=image_data,
            image_ids=fields.get("like") or (),
            negative_text=fields.get("not_q"),
            rephrasings=[t for t in (fields.get("rephrasings") or "").splitlines() if t.strip()],
            negative_image_ids=fields.get("unlike") or (),
            text_weight=_weight_value(fields, "text_weight"),
            image_weight=_weight_value(fields, "image_weight"),
            negative_weight=_weight_value(fields, "negative_weight"),
            composition=fields.get("composition") or Composition.SUM,
            fusion=fields.get("fusion") or Fusion.LOG_VOTE,
            gallery_slugs=fields.get("galleries") or None,
            k=fields.get("k"),
            mode=fields.get("mode") or None,
            page=fields.get("page") or 1,
            model=fields.get("model") or ModelRole.ACTIVE,
        )


def _weight_value(fields: dict[str, Any], name: str) -> float:
    value = fields.get(name)
    return DEFAULT_WEIGHTS[name] if value is None else float(value)
