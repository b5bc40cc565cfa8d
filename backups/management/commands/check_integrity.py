from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account
from backups.integrity import integrity_check


class Command(BaseCommand):
    help = (
        "Check the database's invariants: a record is wholly live or wholly in the bin with what "
        "went with it, no bin entry lists a live record, hidden links point only at binned "
        "records, every snapshot file matches its row. Prints each problem; exit 1 if any."
    )

    def add_arguments(self, parser):
        parser.add_argument("--account", help="only this account (by name)")

    def handle(self, *args, **options):
        accounts = Account.objects.order_by("pk")
        if options["account"]:
            accounts = accounts.filter(name=options["account"])
            if not accounts.exists():
                raise CommandError(f"No account named {options['account']!r}.")
        found = integrity_check(accounts=accounts)
        for name, breaches in found.items():
            for breach in breaches:
                self.stdout.write(f"{name}: {breach}")
        if found:
            total = sum(len(breaches) for breaches in found.values())
            self.stderr.write(f"{total} problems in {len(found)} accounts.")
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS(f"No problem in {accounts.count()} accounts."))
