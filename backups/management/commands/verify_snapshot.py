from django.core.management.base import BaseCommand, CommandError

from backups.drill import snapshot_drill
from backups.models import Snapshot


class Command(BaseCommand):
    help = (
        "The restore drill now, in the foreground: read each snapshot's file back (checksum, "
        "format, account) and compare every table's rows with the digests the database gave "
        "when it was taken; the result is recorded as the nightly drill's would be. Exits with "
        "status 1 if any fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("ids", type=int, nargs="*", metavar="ID")
        parser.add_argument(
            "--all", action="store_true", help="Every finished snapshot that is still kept."
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help="The full drill: restore each into scratch tables through the real restore "
            "code and compare what it wrote (the default is the quick drill: rows read back).",
        )

    def handle(self, *args, ids, all, full, **options):
        self.level = Snapshot.DrillLevel.FULL if full else Snapshot.DrillLevel.QUICK
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
            bad += not self._drill(snapshot)
        if bad:
            raise CommandError(f"{bad} snapshot(s) do NOT verify.")

    def _drill(self, snapshot: Snapshot) -> bool:
        if snapshot.status != Snapshot.Status.SUCCEEDED:
            self.stderr.write(f"Snapshot #{snapshot.pk} does NOT verify: it is {snapshot.status}.")
            return False
        outcome = snapshot_drill(snapshot=snapshot, level=self.level)
        if not outcome.passed:
            self.stderr.write(f"Snapshot #{snapshot.pk} does NOT verify: {outcome.error}")
            return False
        self.stdout.write(
            f"Snapshot #{snapshot.pk} of {snapshot.account.name} ({snapshot.kind}, "
            f"{snapshot.taken_at:%Y-%m-%d %H:%M} UTC) verifies ({self.level} drill): checksum, "
            "format, account and every table's rows against the database's digests OK."
        )
        for table, rows in snapshot.counts.items():
            self.stdout.write(f"  {table}: {rows} rows")
        return True
