"""The gallery admin's cutoff section: per-model overrides and the effective values.

The override fields edit GalleryCutoffOverride rows of the active model (not
the gallery's row: a value set for one model must not follow the gallery into
another model's searches). The summary shows every parameter's effective value
for the active model and where it came from.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.html import format_html, format_html_join

from galleries.models import Gallery
from indexing.runtime import active_model_name
from search.cutoff_models import CutoffSource
from search.cutoffs import (
    NEIGHBOURS,
    PARAMETERS,
    STATIC_IMAGE,
    STATIC_TEXT,
    WEIGHT,
    cutoff_parameters,
    gallery_overrides,
)

# Form field name -> parameter; the names the gallery admin has always used.
FORM_FIELDS = {
    "threshold_static_image": STATIC_IMAGE,
    "threshold_static_text": STATIC_TEXT,
    "threshold_weight": WEIGHT,
    "threshold_neighbours": NEIGHBOURS,
}
SOURCE_LABELS = dict(CutoffSource.choices)


def _field(parameter: str) -> forms.Field:
    spec = PARAMETERS[parameter]
    kind = forms.IntegerField if spec.bound.integer else forms.FloatField
    return kind(
        required=False,
        help_text=f"{spec.description}, {spec.bound.describe()}; empty: not overridden.",
        **spec.bound.limits,
    )


class GalleryCutoffForm(forms.ModelForm):
    """The gallery form with the active model's cutoff overrides (not model fields)."""

    threshold_static_image = _field(STATIC_IMAGE)
    threshold_static_text = _field(STATIC_TEXT)
    threshold_weight = _field(WEIGHT)
    threshold_neighbours = _field(NEIGHBOURS)

    class Meta:
        model = Gallery
        # The legacy columns, no longer read: the admin needs them excluded (not just left out
        # of `fields`) so that the declared fields of the same names never reach the row.
        exclude = list(FORM_FIELDS)  # noqa: DJ006

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model_name = active_model_name()
        if self.instance.pk is not None:
            current = gallery_overrides(gallery=self.instance, model_name=self.model_name)
            for name, parameter in FORM_FIELDS.items():
                if name in self.fields:
                    self.fields[name].initial = current.get(parameter)

    def cutoff_values(self) -> dict[str, float | int | None]:
        """parameter -> the override entered (None: none), for the fields on the form."""
        return {p: self.cleaned_data.get(n) for n, p in FORM_FIELDS.items() if n in self.fields}


def effective_cutoffs_html(gallery: Gallery) -> str:
    """A small table: each parameter's value for the active model and where it came from."""
    model_name = active_model_name()
    if gallery.pk is None:
        return "Shown once the gallery is saved."
    values = cutoff_parameters(model_name=model_name, gallery=gallery).values
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (name, f"{v.value:g}", SOURCE_LABELS.get(v.source, v.source))
            for name, v in values.items()
        ),
    )
    return format_html(
        "<p>Model <code>{}</code></p><table><thead><tr><th>parameter</th><th>value</th>"
        "<th>source</th></tr></thead><tbody>{}</tbody></table>",
        model_name,
        rows,
    )
