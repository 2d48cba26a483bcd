"""Writes to galleries, memberships and images. Permissions are checked by the caller's
selector lookups (gallery_get_editable, ...) and again here where a rule is about data.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import BinaryIO

from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from cbir_site.config import site_config
from cbir_site.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
)
from galleries import selectors
from galleries.config import galleries_config
from galleries.decoding import decode_gate, image_limits
from galleries.imaging import (
    ImageRejected,
    read_header,
    read_limited,
    sha256_of,
    thumbnail_jpeg,
    validate_image,
)
from galleries.models import (
    Gallery,
    Image,
    Membership,
    Organisation,
    OrganisationMembership,
    PendingUpload,
)
from galleries.signals import images_removed, images_stored
from galleries.slugs import save_with_unique_slug
from galleries.upload_budget import BudgetExceeded, UploadBudget, upload_slot

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------- organisations


def organisation_create(
    *, name: str, slug: str = "", members: Sequence[AbstractBaseUser] = ()
) -> Organisation:
    org = Organisation(name=name)
    save_with_unique_slug(org, text=slug or name, always_suffix=False)  # operators only
    for user in members:
        organisation_member_add(organisation=org, user=user)
    return org


def organisation_member_add(*, organisation: Organisation, user: AbstractBaseUser) -> None:
    OrganisationMembership.objects.get_or_create(organisation=organisation, user=user)


# ---------------------------------------------------------------- galleries


def gallery_create(
    *,
    user: AbstractBaseUser,
    name: str,
    description: str = "",
    visibility: str = Gallery.Visibility.PRIVATE,
    organisation: Organisation | None = None,
    slug: str = "",
    hide_taken_slugs: bool = False,
) -> Gallery:
    """Create a gallery owned by `user`.

    A taken slug gets a random suffix (galleries.slugs). `hide_taken_slugs` is
    for requests from the API and the web form: unless `user` is a superuser
    (who sees every gallery anyway), the slug then always ends in a random
    suffix, so a create request never confirms that a gallery the user cannot
    see exists. Operator paths (cbir_import, cbir_demo) keep a free slug as is.
    """
    _check_organisation(user, visibility, organisation)
    always_suffix = hide_taken_slugs and not (user.is_superuser and user.is_active)
    with transaction.atomic():
        gallery = Gallery(
            name=name.strip(),
            description=description,
            visibility=visibility,
            organisation=organisation,
            created_by=user,
        )
        save_with_unique_slug(gallery, text=slug or name, always_suffix=always_suffix)
        Membership.objects.create(gallery=gallery, user=user, role=Membership.Role.OWNER)
    return gallery


def gallery_update(*, gallery: Gallery, user: AbstractBaseUser, **fields: object) -> Gallery:
    allowed = {"name", "description", "visibility", "organisation"}
    unknown = set(fields) - allowed
    if unknown:
        raise InvalidInputError(f"Cannot change {', '.join(sorted(unknown))}.")
    visibility = str(fields.get("visibility", gallery.visibility))
    organisation = fields.get("organisation", gallery.organisation)
    _check_organisation(user, visibility, organisation)  # type: ignore[arg-type]  # fields are the caller's checked values, typed object
    for key, value in fields.items():
        setattr(gallery, key, value)
    gallery.save()
    return gallery


def gallery_delete(*, gallery: Gallery) -> None:
    """Delete a gallery, its images, embeddings and files."""
    with transaction.atomic():
        images = list(gallery.images.values_list("id", "file", "thumbnail"))
        # Its statistic leaves M too: the other galleries' thresholds move.
        images_removed.send(gallery, image_ids=[i for i, _, _ in images], gallery_ids=[gallery.pk])
        gallery.delete()
        paths = [p for _, f, t in images for p in (f, t) if p]
        transaction.on_commit(lambda: _delete_files(paths))


def _check_organisation(
    user: AbstractBaseUser, visibility: str, organisation: Organisation | None
) -> None:
    if visibility not in Gallery.Visibility.values:
        raise InvalidInputError(f"Unknown visibility {visibility!r}.")
    if visibility == Gallery.Visibility.ORGANISATION and organisation is None:
        raise InvalidInputError("A gallery shared with an organisation needs that organisation.")
    if (
        organisation is not None
        and not selectors.organisations_of(user).filter(pk=organisation.pk).exists()
    ):
        raise PermissionDeniedError("You can only share galleries with your own organisations.")


# ---------------------------------------------------------------- memberships

# One answer for "no such user", "inactive" and "outside your organisations": telling them
# apart would let an owner test which accounts exist.
MEMBER_NOT_ADDABLE = (
    "No active user with that username whom you may add: members come from the gallery's "
    "organisation (for a gallery without one, from your organisations)."
)


def gallery_member_add(
    *, gallery: Gallery, actor: AbstractBaseUser, username: str, role: str
) -> Membership:
    """Add the user called `username` (or change their role), as `actor`, an owner.

    Only users in selectors.users_addable_to(gallery, actor) can be named;
    anyone else, existing or not, raises the same NotFoundError.
    """
    addable = selectors.users_addable_to(gallery=gallery, actor=actor)
    user = addable.filter(username=username).first()
    if user is None:
        raise NotFoundError(MEMBER_NOT_ADDABLE)
    return gallery_member_set(gallery=gallery, user=user, role=role)


def gallery_member_set(*, gallery: Gallery, user: AbstractBaseUser, role: str) -> Membership:
    """Add `user` with `role`, or change their role; a gallery always keeps an owner."""
    if role not in Membership.Role.values:
        raise InvalidInputError(f"Unknown role {role!r}; use owner, editor or viewer.")
    with transaction.atomic():
        Gallery.objects.select_for_update().get(pk=gallery.pk)
        membership, created = Membership.objects.get_or_create(
            gallery=gallery, user=user, defaults={"role": role}
        )
        if not created and membership.role != role:
            if membership.role == Membership.Role.OWNER:
                _ensure_another_owner(gallery, user)
            membership.role = role
            membership.save(update_fields=["role"])
    return membership


def gallery_member_remove(*, gallery: Gallery, user: AbstractBaseUser) -> None:
    with transaction.atomic():
        Gallery.objects.select_for_update().get(pk=gallery.pk)
        membership = Membership.objects.filter(gallery=gallery, user=user).first()
        if membership is None:
            return
        if membership.role == Membership.Role.OWNER:
            _ensure_another_owner(gallery, user)
        membership.delete()


def _ensure_another_owner(gallery: Gallery, user: AbstractBaseUser) -> None:
    others = Membership.objects.filter(gallery=gallery, role=Membership.Role.OWNER).exclude(
        user=user
    )
    if not others.exists():
        raise ConflictError("A gallery needs at least one owner; add another owner first.")


# ---------------------------------------------------------------- images


@dataclass(frozen=True)
class UploadOutcome:
    filename: str
    status: str  # created | duplicate | rejected
    image: Image | None = None
    code: str = ""
    message: str = ""


def image_upload(
    *,
    gallery: Gallery,
    user: AbstractBaseUser | None,
    stream: BinaryIO,
    filename: str,
    enqueue: bool = True,
    budget: UploadBudget | None = None,
) -> UploadOutcome:
    """Validate, store the file and the row, then enqueue embedding after commit.

    The cheap checks come first: the byte limit while reading, the SHA-256
    duplicate check, then the header (sides, aspect ratio, pixels, frames) and
    the caller's pixel budget; only then is the file decoded, once, at the
    thumbnail's scale where the format allows. A rejected file leaves nothing
    behind; an exact duplicate (same SHA-256 in this gallery) is reported with
    the existing image and not decoded or stored twice. Bulk importers pass
    enqueue=False and queue whole batches themselves.
    """
    name = _display_name(filename)
    try:
        data = read_limited(stream, site_config().max_upload_bytes)
        if data:
            existing = Image.objects.filter(gallery=gallery, sha256=sha256_of(data)).first()
            if existing is not None:
                return _duplicate(name, existing)
        header = read_header(data, image_limits())
        if budget is not None:
            budget.charge(header.pixels)
        with decode_gate().hold(header.pixels, timeout=galleries_config().decode_wait_s):
            validated = validate_image(
                data, image_limits(), decode_side=galleries_config().thumbnail_size
            )
            assert validated.picture is not None
            thumbnail = thumbnail_jpeg(validated.picture, galleries_config().thumbnail_size)
    except (ImageRejected, BudgetExceeded) as exc:
        return UploadOutcome(name, "rejected", code=exc.code, message=exc.message)
    except ServiceUnavailableError as exc:
        return UploadOutcome(name, "rejected", code="busy", message=exc.message)

    stem = f"images/{gallery.pk}/{uuid.uuid4().hex}"
    planned = [f"{stem}.{validated.extension}", f"{stem}.thumb.jpg"]
    # Committed before any byte is written: if this process dies before the Image row
    # commits, the janitor finds these paths and deletes what was written.
    PendingUpload.objects.bulk_create([PendingUpload(path=p) for p in planned])
    stored: list[str] = []
    try:
        stored.append(default_storage.save(planned[0], ContentFile(validated.data)))
        stored.append(default_storage.save(planned[1], ContentFile(thumbnail)))
        with transaction.atomic():
            PendingUpload.objects.filter(path__in=planned).delete()
            image = Image.objects.create(
                gallery=gallery,
                file=stored[0],
                thumbnail=stored[1],
                original_filename=name,
                sha256=validated.sha256,
                byte_size=len(validated.data),
                width=validated.width,
                height=validated.height,
                format=validated.format,
                uploaded_by=user if user is not None and user.is_authenticated else None,
            )
            if enqueue:
                images_stored.send(Image, image_ids=[image.pk])
    except IntegrityError:
        # Another upload of the same bytes won the race for the (gallery, sha256) constraint.
        _delete_files(stored)
        PendingUpload.objects.filter(path__in=planned).delete()
        existing = Image.objects.filter(gallery=gallery, sha256=validated.sha256).first()
        if existing is None:
            raise
        return _duplicate(name, existing)
    except BaseException:
        _delete_files(stored)
        PendingUpload.objects.filter(path__in=planned).delete()
        raise
    return UploadOutcome(name, "created", image=image)


def uploads_abandoned_cleanup(*, older_than_s: int = 3600) -> list[str]:
    """Delete files whose upload died before its Image row committed; return their paths."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    abandoned = list(
        PendingUpload.objects.filter(created_at__lt=cutoff).values_list("path", flat=True)
    )
    referenced = set(Image.objects.filter(file__in=abandoned).values_list("file", flat=True))
    referenced |= set(
        Image.objects.filter(thumbnail__in=abandoned).values_list("thumbnail", flat=True)
    )
    orphans = [p for p in abandoned if p not in referenced]
    _delete_files(orphans)
    PendingUpload.objects.filter(path__in=abandoned).delete()
    return orphans


def images_upload(
    *, gallery: Gallery, user: AbstractBaseUser | None, files: list[tuple[BinaryIO, str]]
) -> list[UploadOutcome]:
    """Upload several files through the web (UI or API), metered, queued as one batch.

    The caller holds one of its upload slots for the whole request (429 when it
    has none left or has used up this minute's quota); each file is charged to
    the request's pixel budget and the user's quotas before it is decoded.
    """
    user_id = user.pk if user is not None and user.is_authenticated else None
    budget = UploadBudget.for_request(user_id)
    budget.check_user_quota()
    slot = upload_slot(user_id) if user_id is not None else contextlib.nullcontext()
    with slot:
        outcomes = [
            image_upload(
                gallery=gallery,
                user=user,
                stream=stream,
                filename=name,
                enqueue=False,
                budget=budget,
            )
            for stream, name in files
        ]
    created = [o.image.pk for o in outcomes if o.status == "created" and o.image]
    images_stored.send(Image, image_ids=created)
    return outcomes


def image_delete(*, image: Image) -> None:
    paths = [p for p in (image.file.name, image.thumbnail.name) if p]
    with transaction.atomic():
        images_removed.send(Image, image_ids=[image.pk], gallery_ids=[image.gallery_id])
        image.delete()
        transaction.on_commit(lambda: _delete_files(paths))


def images_mark_pending(image_ids: Sequence[int]) -> None:
    """The images wait for embedding again (a re-embedding dropped their vectors)."""
    Image.objects.filter(id__in=image_ids).update(
        status=Image.Status.PENDING, failure_reason="", attempts=0
    )


def _duplicate(name: str, existing: Image) -> UploadOutcome:
    return UploadOutcome(
        name,
        "duplicate",
        image=existing,
        code="duplicate",
        message=f"Already in this gallery as image {existing.pk} ({existing.original_filename}).",
    )


def _display_name(filename: str) -> str:
    # Only for display: storage names are generated. Drop any path the client sent.
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in base if ch.isprintable())[:255]


def _delete_files(paths: list[str]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            default_storage.delete(path)
