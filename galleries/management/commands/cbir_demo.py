"""manage.py cbir_demo: a demo user, organisation and gallery of real photos (development only)."""

from __future__ import annotations

import io

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from galleries import services
from galleries.models import Gallery, Organisation
from galleries.samples import sample_photos

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"  # development only: the command refuses to run in production


class Command(BaseCommand):
    help = "Create the demo user, organisation and a gallery of scikit-image's sample photos."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet-if-present", action="store_true")

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        if settings.PRODUCTION:
            raise CommandError("cbir_demo creates a user with a known password: development only.")
        users = get_user_model()
        user, created = users.objects.get_or_create(
            username=DEMO_USERNAME, defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        org = Organisation.objects.filter(slug="demo").first() or services.organisation_create(
            name="Demo organisation", slug="demo", members=[user]
        )
        gallery = Gallery.objects.filter(slug="sample-photos").first()
        if gallery is None:
            gallery = services.gallery_create(
                user=user,
                name="Sample photos",
                slug="sample-photos",
                description=(
                    "Photographs that ship with scikit-image: a cat, coffee, a rocket, the moon…"
                ),
                visibility=Gallery.Visibility.ORGANISATION,
                organisation=org,
            )
        outcomes = services.images_upload(
            gallery=gallery,
            user=user,
            files=[(io.BytesIO(data), filename) for filename, data in sample_photos()],
        )
        added = sum(o.status == "created" for o in outcomes)
        if added or not options["quiet_if_present"]:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo ready: sign in as '{DEMO_USERNAME}' / '{DEMO_PASSWORD}' "
                    f"(gallery '{gallery.slug}', {added} new photos queued for embedding)."
                )
            )
