"""Adding a member never confirms that an account exists.

Members are named by username, only among the users the owner may add:
active users of the gallery's organisation (for a gallery without one, of the
owner's organisations) and its current members. "No such user", "inactive"
and "outside your organisations" get one and the same answer, in the API and
in the admin.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from galleries.models import Gallery, Membership
from galleries.services import MEMBER_NOT_ADDABLE
from tests.factories import GalleryFactory, OrganisationFactory, UserFactory, add_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def dormant(cast):  # type: ignore[no-untyped-def]
    """An inactive account in the gallery's organisation."""
    user = UserFactory(username="dormant", is_active=False)
    cast.organisation.organisationmembership_set.create(user=user)
    return user


def members(gallery: Gallery) -> dict[str, str]:
    return dict(gallery.memberships.values_list("user__username", "role"))


def _add(client, slug: str, body: dict):  # type: ignore[no-untyped-def]
    return client.post(reverse("api:gallery-members", args=[slug]), body, format="json")


# ---------------------------------------------------------------- API


def test_an_organisation_member_is_added_by_username(cast, client_for):
    response = _add(client_for(cast.owner), "private", {"username": "orgmember", "role": "editor"})
    assert response.status_code == 201
    assert (response.data["username"], response.data["role"]) == ("orgmember", "editor")
    assert members(cast.gallery)["orgmember"] == "editor"


def test_unknown_inactive_and_outside_users_get_the_same_answer(cast, dormant, client_for):
    client = client_for(cast.owner)
    answers = [
        _add(client, "private", {"username": name, "role": "viewer"})
        for name in ("ghost", "dormant", "outsider")
    ]
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert answers[0].data == answers[1].data == answers[2].data
    assert answers[0].data == {"detail": MEMBER_NOT_ADDABLE, "code": "not_found"}
    assert set(members(cast.gallery)) == {"owner", "editor", "viewer"}


def test_a_user_id_is_refused_with_a_clear_message(cast, client_for):
    client = client_for(cast.owner)
    body = {"username": "orgmember", "user_id": cast.org_member.pk, "role": "viewer"}
    response = _add(client, "private", body)
    assert response.status_code == 400
    assert "username" in str(response.data["user_id"])
    known, unknown = (
        _add(client, "private", {"user_id": user_id, "role": "viewer"})
        for user_id in (cast.outsider.pk, 987654)
    )
    assert (known.status_code, unknown.status_code) == (400, 400)
    assert known.data == unknown.data and "username" in known.data
    assert "orgmember" not in members(cast.gallery)


def test_a_gallery_without_organisation_takes_members_from_the_owners_organisations(
    cast, client_for
):
    solo = GalleryFactory(slug="solo", owner=cast.owner)
    client = client_for(cast.owner)
    assert _add(client, "solo", {"username": "orgmember", "role": "viewer"}).status_code == 201
    assert _add(client, "solo", {"username": "outsider", "role": "viewer"}).status_code == 404
    assert members(solo) == {"owner": "owner", "orgmember": "viewer"}


def test_the_galleries_organisation_decides_not_the_owners_other_ones(cast, client_for):
    rivals = OrganisationFactory(slug="rivals")
    rivals.organisationmembership_set.create(user=cast.owner)
    rivals.organisationmembership_set.create(user=cast.outsider)
    response = _add(client_for(cast.owner), "private", {"username": "outsider", "role": "viewer"})
    assert response.status_code == 404
    assert "outsider" not in members(cast.gallery)


def test_an_outside_member_already_in_the_gallery_can_change_role(cast, client_for):
    add_member(cast.gallery, cast.outsider, Membership.Role.VIEWER)  # e.g. by a superuser
    response = _add(client_for(cast.owner), "private", {"username": "outsider", "role": "editor"})
    assert response.status_code == 201
    assert members(cast.gallery)["outsider"] == "editor"


def test_a_superuser_may_add_anyone_active(cast, dormant, client_for):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    client = client_for(root)
    assert _add(client, "private", {"username": "outsider", "role": "viewer"}).status_code == 201
    assert _add(client, "private", {"username": "dormant", "role": "viewer"}).status_code == 404


def test_the_schema_documents_username_only(client_for, cast):
    schema = client_for(cast.owner).get("/api/schema/", {"format": "json"}).json()
    fields = schema["components"]["schemas"]["MembershipInputRequest"]["properties"]
    assert set(fields) == {"username", "role"}


# ---------------------------------------------------------------- admin


@pytest.fixture
def manager(cast) -> Client:  # type: ignore[no-untyped-def]
    cast.owner.is_staff = True
    cast.owner.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(cast.owner)
    return client


def _inline_post(gallery: Gallery, new_username: str) -> dict:
    rows = [
        {"id": m.pk, "user": m.user.username, "role": m.role}
        for m in gallery.memberships.select_related("user")
    ]
    rows.append({"user": new_username, "role": "viewer"})
    data = {
        "name": gallery.name,
        "description": gallery.description,
        "visibility": gallery.visibility,
        "organisation": gallery.organisation_id or "",
        "memberships-TOTAL_FORMS": str(len(rows)),
        "memberships-INITIAL_FORMS": str(len(rows) - 1),
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"memberships-{i}-{key}"] = value
        data[f"memberships-{i}-gallery"] = gallery.pk
    return data


def test_the_admin_lists_no_accounts_a_manager_may_not_add(cast, manager):
    page = manager.get(reverse("admin:galleries_gallery_change", args=[cast.gallery.pk]))
    content = page.content.decode()
    assert page.status_code == 200
    assert "outsider" not in content and "orgmember" not in content  # a username box, no list
    assert 'value="viewer"' in content  # current members are shown by username
    add = manager.get(reverse("admin:galleries_membership_add")).content.decode()
    assert "outsider" not in add and "orgmember" not in add


def test_the_admin_inline_adds_by_username_with_the_same_rule(cast, dormant, manager):
    page = reverse("admin:galleries_gallery_change", args=[cast.gallery.pk])
    bodies = []
    for name in ("ghost", "dormant", "outsider"):
        response = manager.post(page, _inline_post(cast.gallery, name))
        assert response.status_code == 200  # the form comes back
        errors = response.context["inline_admin_formsets"][0].formset.errors
        bodies.append([e for e in errors if e])
    assert bodies[0] == bodies[1] == bodies[2] == [{"user": [MEMBER_NOT_ADDABLE]}]
    assert escape(MEMBER_NOT_ADDABLE) in response.content.decode()
    assert set(members(cast.gallery)) == {"owner", "editor", "viewer"}

    assert manager.post(page, _inline_post(cast.gallery, "orgmember")).status_code == 302
    assert members(cast.gallery)["orgmember"] == "viewer"


def test_the_membership_admin_adds_by_username_with_the_same_rule(cast, dormant, manager):
    add = reverse("admin:galleries_membership_add")
    errors = []
    for name in ("ghost", "dormant", "outsider"):
        response = manager.post(add, {"gallery": cast.gallery.pk, "user": name, "role": "viewer"})
        assert response.status_code == 200
        errors.append(dict(response.context["adminform"].form.errors))
    assert errors[0] == errors[1] == errors[2] == {"user": [MEMBER_NOT_ADDABLE]}
    body = {"gallery": cast.gallery.pk, "user": "orgmember", "role": "viewer"}
    assert manager.post(add, body).status_code == 302
    assert members(cast.gallery)["orgmember"] == "viewer"


def test_a_superuser_adds_anyone_in_the_admin(cast):
    client = Client()
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    body = {"gallery": cast.gallery.pk, "user": "outsider", "role": "viewer"}
    assert client.post(reverse("admin:galleries_membership_add"), body).status_code == 302
    assert members(cast.gallery)["outsider"] == "viewer"
