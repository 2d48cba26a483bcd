"""Cutoff parameters per model: what each one is, and the one place that resolves its value.

Every parameter belongs to a model (search/cutoff_models.py). For a model and,
optionally, a gallery the value comes from, first match wins:

    override           a gallery manager's value for this model (GalleryCutoffOverride)
    fitted_judgements  fitted on the judgement log of this model's searches
    fitted_collection  derived from this model's own collection (label-free)
    default            the deployment's setting

Every reader (statistics, search, admin, API, the text calibration) asks
`cutoff_parameters` / `cutoff_parameters_for` with the model of the search, so
a value fitted or set for one model never reaches another's searches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from cbir_site import bounds
from cbir_site.config import setting_of
from cbir_site.errors import InvalidInputError
from galleries.models import Gallery
from search.config import search_config
from search.cutoff_models import CutoffCalibration, CutoffSource, GalleryCutoffOverride
from search.thresholds import ThresholdParams

TEXT, IMAGE = "text", "image"
STATIC_IMAGE, STATIC_TEXT, WEIGHT, NEIGHBOURS = (
    "static_image",
    "static_text",
    "weight",
    "neighbours",
)
# The relevance model of text queries' expected_f1 cut (search/text_cut_methods.py), and
# qbnorm's z: one cut over all searched galleries, so per model only (no gallery overrides).
TEXT_F1_CENTRE, TEXT_F1_BANK, TEXT_F1_OWN, QBNORM_Z = (
    "text_f1_centre",
    "text_f1_bank_weight",
    "text_f1_own_weight",
    "qbnorm_z",
)
# Judgements beat the collection: they say what users found relevant.
FITTED_ORDER = (CutoffSource.FITTED_JUDGEMENTS, CutoffSource.FITTED_COLLECTION)


@dataclass(frozen=True)
class Parameter:
    name: str
    setting: str  # the deployment's default, a field of search/config.py
    bound: bounds.Bound
    description: str
    per_gallery: bool = True  # False: a model-wide value a gallery manager cannot override

    def default(self) -> float:
        return float(setting_of(search_config(), self.setting))

    def cast(self, value: float) -> float | int:
        return round(value) if self.bound.integer else float(value)


PARAMETERS: dict[str, Parameter] = {}


def parameter_register(parameter: Parameter) -> Parameter:
    """Add a parameter (the text calibration registers its own); a name is registered once."""
    known = PARAMETERS.get(parameter.name)
    if known is not None and known != parameter:
        raise ValueError(f"cutoff parameter {parameter.name!r} is already registered")
    PARAMETERS[parameter.name] = parameter
    return parameter


for _parameter in (
    Parameter(
        STATIC_IMAGE,
        "CBIR_THRESHOLD_STATIC_IMAGE",
        bounds.THRESHOLD_STATIC,
        "T_static for image queries (Euclidean distance)",
    ),
    Parameter(
        STATIC_TEXT,
        "CBIR_THRESHOLD_STATIC_TEXT",
        bounds.THRESHOLD_STATIC,
        "T_static for text queries (Euclidean distance)",
    ),
    Parameter(
        WEIGHT, "CBIR_THRESHOLD_WEIGHT", bounds.THRESHOLD_WEIGHT, "w in T_static + w (m_g - M)"
    ),
    Parameter(
        NEIGHBOURS,
        "CBIR_THRESHOLD_NEIGHBOURS",
        bounds.THRESHOLD_NEIGHBOURS,
        "n: neighbours per image in m_g",
    ),
    Parameter(
        TEXT_F1_CENTRE,
        "CBIR_TEXT_F1_CENTRE",
        bounds.TEXT_RELEVANCE_CENTRE,
        "c: text queries' relevance log-odds are b z_bank + a z_own - c (expected_f1)",
        per_gallery=False,
    ),
    Parameter(
        TEXT_F1_BANK,
        "CBIR_TEXT_F1_BANK_WEIGHT",
        bounds.TEXT_RELEVANCE_WEIGHT,
        "b: weight of the query-bank z in the relevance log-odds (expected_f1)",
        per_gallery=False,
    ),
    Parameter(
        TEXT_F1_OWN,
        "CBIR_TEXT_F1_OWN_WEIGHT",
        bounds.TEXT_RELEVANCE_WEIGHT,
        "a: weight of the z against the query's own scores over the collection (expected_f1)",
        per_gallery=False,
    ),
    Parameter(
        QBNORM_Z,
        "CBIR_QBNORM_Z",
        bounds.TEXT_RELEVANCE_CENTRE,
        "z a hit's query-bank z must exceed (text_cutoff qbnorm)",
        per_gallery=False,
    ),
):
    parameter_register(_parameter)


@dataclass(frozen=True)
class CutoffValue:
    value: float | int
    source: str  # a CutoffSource value
    fitted_at: datetime | None = None
    sample_size: int | None = None  # images or marks the fit used


@dataclass(frozen=True)
class CutoffParameters:
    """One model's resolved parameters (for one gallery, when given)."""

    model_name: str
    values: Mapping[str, CutoffValue] = field(default_factory=dict)

    def __getitem__(self, name: str) -> CutoffValue:
        return self.values[name]

    def for_kind(self, kind: str) -> dict[str, CutoffValue]:
        """The three values a query kind's cutoff uses, named static, weight, neighbours."""
        static = STATIC_TEXT if kind == TEXT else STATIC_IMAGE
        return {
            "static": self.values[static],
            "weight": self.values[WEIGHT],
            "neighbours": self.values[NEIGHBOURS],
        }

    def threshold_params(self, kind: str) -> ThresholdParams:
        used = self.for_kind(kind)
        return ThresholdParams(
            static=float(used["static"].value),
            weight=float(used["weight"].value),
            neighbours=int(used["neighbours"].value),
        )


# ---------------------------------------------------------------- reading


def model_calibrations(*, model_name: str) -> dict[str, CutoffValue]:
    """The model's values without gallery overrides: fitted where fitted, else the default."""
    rows: dict[tuple[str, str], CutoffCalibration] = {
        (r.parameter, r.source): r for r in CutoffCalibration.objects.filter(model_name=model_name)
    }
    out = {}
    for name, parameter in PARAMETERS.items():
        fitted = next((rows[(name, s)] for s in FITTED_ORDER if (name, s) in rows), None)
        out[name] = (
            CutoffValue(
                parameter.cast(fitted.value), fitted.source, fitted.fitted_at, fitted.sample_size
            )
            if fitted is not None
            else CutoffValue(parameter.cast(parameter.default()), CutoffSource.DEFAULT.value)
        )
    return out


def cutoff_parameters_for(
    *, model_name: str, galleries: Iterable[Gallery]
) -> dict[int, CutoffParameters]:
    """Each gallery's parameters under the model (two queries, however many galleries)."""
    ids = [g.pk for g in galleries]
    base = model_calibrations(model_name=model_name)
    overrides: dict[int, dict[str, CutoffValue]] = {g: {} for g in ids}
    rows = GalleryCutoffOverride.objects.filter(model_name=model_name, gallery_id__in=ids)
    for row in rows:
        parameter = PARAMETERS.get(row.parameter)
        if parameter is not None:  # a parameter no longer registered is ignored
            overrides[row.gallery_id][row.parameter] = CutoffValue(
                parameter.cast(row.value), CutoffSource.OVERRIDE.value, row.set_at
            )
    return {g: CutoffParameters(model_name, {**base, **overrides[g]}) for g in ids}


def cutoff_parameters(*, model_name: str, gallery: Gallery | None = None) -> CutoffParameters:
    """The model's parameters, with the gallery's overrides for this model when given."""
    if gallery is None:
        return CutoffParameters(model_name, model_calibrations(model_name=model_name))
    return cutoff_parameters_for(model_name=model_name, galleries=[gallery])[gallery.pk]


def gallery_overrides(*, gallery: Gallery, model_name: str) -> dict[str, float | int]:
    rows = GalleryCutoffOverride.objects.filter(gallery=gallery, model_name=model_name)
    return {
        r.parameter: PARAMETERS[r.parameter].cast(r.value)
        for r in rows
        if r.parameter in PARAMETERS
    }


# ---------------------------------------------------------------- writing


def gallery_cutoff_overrides_set(
    *,
    gallery: Gallery,
    model_name: str,
    values: Mapping[str, float | int | None],
    user: AbstractBaseUser | None = None,
) -> list[str]:
    """Set (or, with None, remove) a manager's overrides for one model; returns those changed.

    Checked against cbir_site/bounds.py first, so a bad value leaves nothing written.
    """
    for name, value in values.items():
        parameter = PARAMETERS.get(name)
        if parameter is None:
            raise InvalidInputError(f"Unknown cutoff parameter {name!r}.")
        if not parameter.per_gallery:
            raise InvalidInputError(
                f"{name!r} is one value per model (a text query's cut spans every searched "
                "gallery): it cannot be overridden for a gallery."
            )
        if value is not None:
            parameter.bound.check(name, value)
    current = gallery_overrides(gallery=gallery, model_name=model_name)
    changed = [n for n, v in values.items() if current.get(n) != v]
    with transaction.atomic():
        for name in changed:
            value = values[name]
            rows = GalleryCutoffOverride.objects.filter(
                gallery=gallery, model_name=model_name, parameter=name
            )
            if value is None:
                rows.delete()
            else:
                GalleryCutoffOverride.objects.update_or_create(
                    gallery=gallery,
                    model_name=model_name,
                    parameter=name,
                    defaults={"value": float(value), "set_by": user},
                )
    return changed
