from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from catalog.exceptions import DatabaseUnavailable
from catalog.setup import database_ensure_exists


class Command(BaseCommand):
    help = "Create the database named by DATABASE_URL when it does not exist yet."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default", help="Database alias.")

    def handle(self, *args, **options):
        try:
            created = database_ensure_exists(db=settings.DATABASES[options["database"]])
        except DatabaseUnavailable as exc:
            raise CommandError(str(exc)) from exc
        if options["verbosity"] >= 1:
            message = "Database created." if created else "Database already exists."
            self.stdout.write(self.style.SUCCESS(message))
