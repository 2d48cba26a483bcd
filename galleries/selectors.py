"""Who may see and change what: the one place that answers it.

Every view, API endpoint, admin page and search goes through these
functions. Objects a user may not see raise NotFoundError (HTTP 404), so
that their existence is not leaked; objects a user may see but not change
raise PermissionDeniedError (HTTP 403).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet

from cbir_site.errors import NotFoundError, PermissionDeniedError
from galleries.models import Gallery, Image, Membership, Organisation, OrganisationMembership

type User = AbstractBaseUser | AnonymousUser

EDIT_ROLES = (Membership.Role.OWNER, Membership.Role.EDITOR)


def _is_superuser(user: User) -> bool:
    return bool(getattr(user, "is_superuser", False) and user.is_active)


def _visible_q(user: User) -> Q:
    public = Q(visibility=Gallery.Visibility.PUBLIC)
    if not user.is_authenticated or not user.is_active:
        return public
    member = Q(memberships__user=user)
    organisation = Q(
        visibility=Gallery.Visibility.ORGANISATION,
        organisation__organisationmembership__user=user,
    )
    return public | member | organisation


def galleries_visible_to(user: User) -> QuerySet[Gallery]:
    if _is_superuser(user):
        return Gallery.objects.all()
    # The joins in _visible_q can repeat a gallery; filter by id to keep the queryset clean.
    ids = Gallery.objects.filter(_visible_q(user)).values("id")
    return Gallery.objects.filter(id__in=ids)


def galleries_editable_by(user: User) -> QuerySet[Gallery]:
    if _is_superuser(user):
        return Gallery.objects.all()
    if not user.is_authenticated or not user.is_active:
        return Gallery.objects.none()
    return Gallery.objects.filter(memberships__user=user, memberships__role__in=EDIT_ROLES)


def galleries_managed_by(user: User) -> QuerySet[Gallery]:
    if _is_superuser(user):
        return Gallery.objects.all()
    if not user.is_authenticated or not user.is_active:
        return Gallery.objects.none()
    return Gallery.objects.filter(memberships__user=user, memberships__role=Membership.Role.OWNER)


def images_visible_to(user: User) -> QuerySet[Image]:
    return Image.objects.filter(gallery__in=galleries_visible_to(user))


def organisations_of(user: User) -> QuerySet[Organisation]:
    if _is_superuser(user):
        return Organisation.objects.all()
    if not user.is_authenticated:
        return Organisation.objects.none()
    return Organisation.objects.filter(organisationmembership__user=user)


def gallery_role_for(user: User, gallery: Gallery) -> str | None:
    """The user's own role in the gallery, or None (superusers count as owners)."""
    if _is_superuser(user):
        return Membership.Role.OWNER
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.filter(gallery=gallery, user=user).values_list("role", flat=True).first()
    )


def gallery_get_visible(user: User, *, slug: str) -> Gallery:
    gallery = galleries_visible_to(user).filter(slug=slug).first()
    if gallery is None:
        raise NotFoundError(f"No gallery named '{slug}'.")
    return gallery


def gallery_get_editable(user: User, *, slug: str) -> Gallery:
    gallery = gallery_get_visible(user, slug=slug)
    if not galleries_editable_by(user).filter(pk=gallery.pk).exists():
        raise PermissionDeniedError("Only the gallery's owners and editors may change its images.")
    return gallery


def gallery_get_managed(user: User, *, slug: str) -> Gallery:
    gallery = gallery_get_visible(user, slug=slug)
    if not galleries_managed_by(user).filter(pk=gallery.pk).exists():
        raise PermissionDeniedError("Only the gallery's owners may do this.")
    return gallery


def image_get_visible(user: User, *, image_id: int) -> Image:
    image = images_visible_to(user).select_related("gallery").filter(pk=image_id).first()
    if image is None:
        raise NotFoundError(f"No image with id {image_id}.")
    return image


def image_get_editable(user: User, *, image_id: int) -> Image:
    image = image_get_visible(user, image_id=image_id)
    if not galleries_editable_by(user).filter(pk=image.gallery_id).exists():
        raise PermissionDeniedError("Only the gallery's owners and editors may change its images.")
    return image


def gallery_status_counts(gallery: Gallery) -> dict[str, int]:
    """Indexing progress: how many images are pending, ready, failed."""
    rows = Image.objects.filter(gallery=gallery).values("status").annotate(n=Count("id"))
    counts = {status: 0 for status in Image.Status.values}
    counts.update({row["status"]: row["n"] for row in rows})
    counts["total"] = sum(counts[s] for s in Image.Status.values)
    return counts


def users_addable_to(*, gallery: Gallery, actor: User) -> QuerySet:
    """The users `actor` may name as members of `gallery`.

    Active users of the gallery's organisation or, for a gallery without one,
    of any organisation `actor` belongs to; plus the gallery's current members
    (whose role may change). Superusers may add any active user. Nobody else
    can be named, so adding a member never confirms that an account exists.
    """
    users = get_user_model().objects.filter(is_active=True)
    if _is_superuser(actor):
        return users
    if not actor.is_authenticated or not actor.is_active:
        return users.none()
    if gallery.organisation_id is not None:
        organisations = Organisation.objects.filter(pk=gallery.organisation_id)
    else:
        organisations = organisations_of(actor)
    peers = OrganisationMembership.objects.filter(organisation__in=organisations).values("user")
    if gallery.pk is None:  # an unsaved gallery (the admin's add form) has no members yet
        return users.filter(pk__in=peers)
    members = Membership.objects.filter(gallery=gallery).values("user")
    return users.filter(Q(pk__in=peers) | Q(pk__in=members))


def gallery_labels(galleries: list[Gallery]) -> dict[int, str]:
    """Each gallery's name, told apart where names repeat: by organisation, then by slug.

    Two galleries called "Holidays" in different organisations read "Holidays (Acme)" and
    "Holidays (Umbrella)"; in the same organisation (or none), "Holidays (holidays-2)".
    Only the galleries given are compared: pass the ones shown together.
    """
    by_name: dict[str, list[Gallery]] = {}
    for gallery in galleries:
        by_name.setdefault(gallery.name.strip().casefold(), []).append(gallery)
    labels = {}
    for same in by_name.values():
        organisations = [g.organisation.name if g.organisation_id else "" for g in same]
        for gallery, organisation in zip(same, organisations, strict=True):
            if len(same) == 1:
                labels[gallery.pk] = gallery.name
            elif organisation and organisations.count(organisation) == 1:
                labels[gallery.pk] = f"{gallery.name} ({organisation})"
            else:
                labels[gallery.pk] = f"{gallery.name} ({gallery.slug})"
    return labels


def galleries_for_picker(user: User) -> list[tuple[Gallery, str, int]]:
    """The galleries the user may search: (gallery, a label that tells it apart, images)."""
    galleries = list(
        galleries_visible_to(user)
        .select_related("organisation")
        .annotate(image_count=Count("images"))
        .order_by("name", "slug")
    )
    labels = gallery_labels(galleries)
    return [(g, labels[g.pk], g.image_count) for g in galleries]
