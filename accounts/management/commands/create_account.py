from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.plans import Plan
from accounts.services import account_create


class Command(BaseCommand):
    help = "Create an account (tenant) with its first admin."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--plan", choices=Plan.values, default=Plan.FREE)
        parser.add_argument("--admin", required=True, help="username of the account's first admin")
        parser.add_argument("--password", required=True)
        parser.add_argument("--email", default="")
        parser.add_argument("--time-zone", default="Europe/Berlin")

    def handle(self, *args, **options):
        try:
            account = account_create(
                name=options["name"],
                plan=options["plan"],
                time_zone=options["time_zone"],
                admin_username=options["admin"],
                admin_password=options["password"],
                admin_email=options["email"],
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Created account {account.name!r} (plan {account.plan}, id {account.pk}) "
                f"with admin {options['admin']!r}."
            )
        )
