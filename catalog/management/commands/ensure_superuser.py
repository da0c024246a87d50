import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from catalog.setup import superuser_ensure

DEV_USERNAME = "admin"
DEV_PASSWORD = "admin"  # noqa: S105 - printed on purpose; only used with DEBUG on


class Command(BaseCommand):
    help = (
        "Create a superuser without prompting. Reads DJANGO_SUPERUSER_USERNAME, "
        "DJANGO_SUPERUSER_EMAIL and DJANGO_SUPERUSER_PASSWORD; with DJANGO_DEBUG on and no "
        "password given, creates admin/admin for local development. Safe to run again."
    )

    def handle(self, *args, **options):
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME") or DEV_USERNAME
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL") or f"{username}@example.com"
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        if password:
            result = superuser_ensure(
                username=username, email=email, password=password, overwrite_password=True
            )
            detail = "password from DJANGO_SUPERUSER_PASSWORD"
        elif settings.DEBUG:
            result = superuser_ensure(
                username=username, email=email, password=DEV_PASSWORD, overwrite_password=False
            )
            detail = (
                f"password: {DEV_PASSWORD}"
                if result.created
                else f"password unchanged; {DEV_PASSWORD!r} unless you changed it"
            )
        else:
            raise CommandError(
                "Set DJANGO_SUPERUSER_PASSWORD: a development password is only used "
                "with DJANGO_DEBUG on."
            )
        if options["verbosity"] >= 1:
            state = "created" if result.created else "exists"
            self.stdout.write(self.style.SUCCESS(f"Superuser {username!r} {state} ({detail})."))
