from __future__ import annotations

from django import forms
from django.conf import settings


class SearchForm(forms.Form):
    q = forms.CharField(label="Describe what you are looking for", required=False, max_length=1000)
    image = forms.FileField(label="…or give an example image", required=False)
    not_q = forms.CharField(label="Not like this", required=False, max_length=1000)
    composition = forms.ChoiceField(
        label="Words and picture",
        required=False,
        choices=[
            ("sum", "blend them into one query"),
            ("two_phase", "find by the words, order by the picture"),
        ],
    )
    image_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    galleries = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    k = forms.IntegerField(
        label="Results", min_value=1, max_value=settings.CBIR_SEARCH_MAX_K, required=False
    )
    mode = forms.ChoiceField(
        label="Return",
        required=False,
        choices=[
            ("auto", "Confident matches (automatic)"),
            ("topk", "The best k"),
            ("dynamic", "Matches under each gallery's dynamic threshold"),
            ("query", "Matches under a query-time threshold"),
            ("static", "Matches under the static threshold"),
        ],
    )
    page = forms.IntegerField(min_value=1, required=False, widget=forms.HiddenInput)

    def __init__(self, *args, gallery_choices, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["galleries"].choices = gallery_choices
        self.fields["k"].initial = settings.CBIR_SEARCH_DEFAULT_K
