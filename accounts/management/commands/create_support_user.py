from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.services import user_create


class Command(BaseCommand):
    help = "Create a support staff user (vendor side, no account; works in the support console)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", required=True)
        parser.add_argument("--email", default="")

    def handle(self, *args, **options):
        try:
            user = user_create(
                username=options["username"],
                password=options["password"],
                email=options["email"],
                account=None,
                is_support=True,
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Created support user {user.username!r}. At the first login they set up "
                "two-factor authentication (an authenticator app) before the console opens."
            )
        )
