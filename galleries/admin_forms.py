"""Admin forms for gallery memberships: members are typed by username, never picked.

A select of every account would show each manager the whole user table, and
a "no such user" error different from "not in your organisation" would
confirm which accounts exist. Here the user is a username text field, and
unknown, inactive and not-addable users (selectors.users_addable_to) all get
the same error as the API (services.MEMBER_NOT_ADDABLE).
"""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from galleries import selectors
from galleries.models import Membership
from galleries.services import MEMBER_NOT_ADDABLE


class MemberForm(forms.ModelForm):
    """One membership row (the gallery's inline, or the membership admin)."""

    # Set per request on the class the admin builds for that request (get_form, get_formset).
    actor: AbstractBaseUser | None = None

    user = forms.ModelChoiceField(
        # Every account resolves here; the addable check in clean() answers in the same words.
        queryset=get_user_model().objects.all(),
        to_field_name="username",
        widget=forms.TextInput(attrs={"autocomplete": "off", "size": 20}),
        error_messages={"invalid_choice": MEMBER_NOT_ADDABLE},
        help_text="Username",
    )

    class Meta:
        model = Membership
        fields = ["user", "role"]

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["user"] = self.instance.user.username  # not the id

    def clean(self) -> dict:
        cleaned = super().clean()
        gallery, user = cleaned.get("gallery"), cleaned.get("user")
        touched = self.instance.pk is None or {"user", "gallery"} & set(self.changed_data)
        if gallery is None or user is None or not touched:
            return cleaned
        actor = self.actor if self.actor is not None else AnonymousUser()
        if not selectors.users_addable_to(gallery=gallery, actor=actor).filter(pk=user.pk).exists():
            self.add_error("user", MEMBER_NOT_ADDABLE)
        return cleaned


class MembershipAdminForm(MemberForm):
    class Meta(MemberForm.Meta):
        fields = ["gallery", "user", "role"]
