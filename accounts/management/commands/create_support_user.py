from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.enrollment import enrollment_link_issue, enrollment_url
from accounts.services import user_create


class Command(BaseCommand):
    help = (
        "Create a support staff user (vendor side, no account; works in the support console) "
        "and print their one-time enrolment link: following it they choose their password and "
        "set up two-factor authentication."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--password",
            default=None,
            help="an initial password (optional: it stops working at enrolment, and alone it "
            "cannot set up two-factor authentication)",
        )
        parser.add_argument("--email", default="")
        parser.add_argument("--hours", type=int, default=None, help="how long the link works")

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
        key = enrollment_link_issue(user=user, hours=options["hours"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Created support user {user.username!r}. Hand them this one-time enrolment "
                "link (it works once, and expires); following it they choose their password and "
                "set up two-factor authentication before the console opens:"
            )
        )
        self.stdout.write(enrollment_url(key))
