from django.core.management.base import BaseCommand, CommandError

from backups.models import Snapshot
from backups.services import snapshot_verify
from backups.snapshot_format import SnapshotInvalid


class Command(BaseCommand):
    help = "Re-read a snapshot's whole file: checksum, format, account and rows per table."

    def add_arguments(self, parser):
        parser.add_argument("id", type=int)

    def handle(self, *args, id, **options):
        snapshot = Snapshot.objects.select_related("account").filter(pk=id).first()
        if snapshot is None:
            raise CommandError(f"No snapshot #{id}.")
        try:
            counts = snapshot_verify(snapshot=snapshot)
        except SnapshotInvalid as error:
            raise CommandError(f"Snapshot #{id} does NOT verify: {error.message}") from None
        self.stdout.write(
            f"Snapshot #{id} of {snapshot.account.name} ({snapshot.kind}, "
            f"{snapshot.taken_at:%Y-%m-%d %H:%M} UTC) verifies: checksum, format and account OK."
        )
        for table, rows in counts.items():
            self.stdout.write(f"  {table}: {rows} rows")
