import time

from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import filesizeformat

from accounts.models import Account
from backups.models import Snapshot
from backups.selectors import entity_counts
from backups.services import snapshot_take


class Command(BaseCommand):
    help = (
        "Take the nightly snapshots now, in the foreground: every account, or one. An account "
        "that already has tonight's snapshot keeps it (use --kind manual for another one)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--account", help="Only this account (its name).")
        parser.add_argument(
            "--kind",
            choices=[Snapshot.Kind.NIGHTLY, Snapshot.Kind.MANUAL],
            default=Snapshot.Kind.NIGHTLY,
        )

    def handle(self, *args, account=None, kind=Snapshot.Kind.NIGHTLY, **options):
        accounts = Account.objects.order_by("name")
        if account is not None:
            accounts = accounts.filter(name=account)
            if not accounts.exists():
                raise CommandError(f"No account named {account!r}.")
        failed = 0
        for each in accounts:
            started = time.monotonic()
            snapshot = snapshot_take(account=each, kind=kind)
            elapsed = time.monotonic() - started
            if snapshot.status == Snapshot.Status.FAILED:
                failed += 1
                self.stderr.write(f"{each.name}: snapshot #{snapshot.pk} FAILED: {snapshot.error}")
                continue
            counts = " ".join(f"{key}={rows}" for key, rows in entity_counts(snapshot).items())
            self.stdout.write(
                f"{each.name}: snapshot #{snapshot.pk} {snapshot.kind} {snapshot.status}, "
                f"{counts}, {filesizeformat(snapshot.size_bytes)} in {elapsed:.2f} s"
            )
        if failed:
            raise CommandError(f"{failed} snapshot(s) failed.")
