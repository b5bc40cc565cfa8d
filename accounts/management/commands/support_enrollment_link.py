from django.core.management.base import BaseCommand, CommandError

from accounts.enrollment import enrollment_link_issue, enrollment_url
from accounts.models import User


class Command(BaseCommand):
    help = (
        "Print a new one-time enrolment link for a support user (their earlier links stop "
        "working), e.g. after resetting their two-factor devices in the Django admin."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--hours", type=int, default=None, help="how long the link works")

    def handle(self, *args, **options):
        user = User.objects.filter(username=options["username"], is_support=True).first()
        if user is None:
            raise CommandError(f"No support user {options['username']!r}.")
        key = enrollment_link_issue(user=user, hours=options["hours"])
        self.stdout.write(enrollment_url(key))
