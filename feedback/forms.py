from __future__ import annotations

from typing import Any

from django import forms

from cbir_site import bounds
from feedback.rocchio import RocchioParams


class RefineForm(forms.Form):
    source = forms.ChoiceField(
        choices=[
            ("marks", "my ✓ and ✗ marks"),
            ("pseudo", "the top results, as if I had marked them"),
        ],
        initial="marks",
        widget=forms.RadioSelect,
        label="Refine with",
    )
    # At least 1 here: this form asks for P only when the source is "pseudo" (0 would be off).
    pseudo_positives = forms.IntegerField(
        min_value=1,
        max_value=bounds.PSEUDO_POSITIVES.maximum,
        initial=3,
        label="How many top results",
    )
    pseudo_negatives = forms.BooleanField(
        required=False, label="…and as many from the bottom as not relevant"
    )
    judged = forms.ChoiceField(
        choices=[
            ("none", "keep them in place"),
            ("pin", "pin relevant ones first, hide the rest"),
            ("hide", "hide them"),
        ],
        initial="none",
        label="Images I marked",
    )
    alpha = forms.FloatField(label="α (query)", **bounds.ROCCHIO_WEIGHT.limits)
    beta = forms.FloatField(label="β (relevant)", **bounds.ROCCHIO_WEIGHT.limits)
    gamma = forms.FloatField(label="γ (not relevant)", **bounds.ROCCHIO_WEIGHT.limits)

    def refine_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        pseudo = data["source"] == "pseudo"
        return {
            "params": RocchioParams(alpha=data["alpha"], beta=data["beta"], gamma=data["gamma"]),
            "judged": data["judged"],
            "pseudo_positives": data["pseudo_positives"] if pseudo else 0,
            "pseudo_negatives": bool(data["pseudo_negatives"]) if pseudo else False,
        }
