from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account, User
from accounts.services import user_create


class Command(BaseCommand):
    help = "Create a user in an account, as employee (default) or admin."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", required=True)
        parser.add_argument("--account", required=True, help="the account's name")
        parser.add_argument("--role", choices=User.Role.values, default=User.Role.EMPLOYEE)
        parser.add_argument("--email", default="")

    def handle(self, *args, **options):
        try:
            account = Account.objects.get(name=options["account"])
        except Account.DoesNotExist:
            raise CommandError(f"No account named {options['account']!r}.") from None
        try:
            user = user_create(
                username=options["username"],
                password=options["password"],
                email=options["email"],
                account=account,
                role=options["role"],
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(
            self.style.SUCCESS(f"Created {user.role} {user.username!r} in {account.name!r}.")
        )
