from django.core.management.base import BaseCommand, CommandError

from backups.models import Snapshot
from backups.services import snapshot_verify
from backups.snapshot_format import SnapshotInvalid


class Command(BaseCommand):
    help = (
        "Re-read snapshot files: checksum, format, account and rows per table. "
        "Exits with status 1 if any does not verify."
    )

    def add_arguments(self, parser):
        parser.add_argument("ids", type=int, nargs="*", metavar="ID")
        parser.add_argument(
            "--all", action="store_true", help="Every finished snapshot that is still kept."
        )

    def handle(self, *args, ids, all, **options):
        if not ids and not all:
            raise CommandError("Name snapshot ids, or --all.")
        snapshots = Snapshot.objects.select_related("account").order_by("pk")
        if all:
            snapshots = snapshots.filter(status=Snapshot.Status.SUCCEEDED)
        else:
            snapshots = snapshots.filter(pk__in=ids)
            missing = set(ids) - set(snapshots.values_list("pk", flat=True))
            if missing:
                raise CommandError(f"No snapshot #{', #'.join(map(str, sorted(missing)))}.")
        bad = 0
        for snapshot in snapshots.iterator():
            bad += not self._verify(snapshot)
        if bad:
            raise CommandError(f"{bad} snapshot(s) do NOT verify.")

    def _verify(self, snapshot: Snapshot) -> bool:
        try:
            counts = snapshot_verify(snapshot=snapshot)
        except SnapshotInvalid as error:
            self.stderr.write(f"Snapshot #{snapshot.pk} does NOT verify: {error.message}")
            return False
        self.stdout.write(
            f"Snapshot #{snapshot.pk} of {snapshot.account.name} ({snapshot.kind}, "
            f"{snapshot.taken_at:%Y-%m-%d %H:%M} UTC) verifies: checksum, format and account OK."
        )
        for table, rows in counts.items():
            self.stdout.write(f"  {table}: {rows} rows")
        return True
