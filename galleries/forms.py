from __future__ import annotations

from django import forms

from galleries import selectors
from galleries.models import Gallery


class GalleryForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    visibility = forms.ChoiceField(choices=Gallery.Visibility.choices, initial="private")
    organisation = forms.ModelChoiceField(queryset=None, required=False)

    def __init__(self, *args, user, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = selectors.organisations_of(user)
