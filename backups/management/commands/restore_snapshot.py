import time

from django.core.management.base import BaseCommand, CommandError

from backups import restore
from backups.models import Snapshot


class Command(BaseCommand):
    help = (
        "Restore an account from one of its snapshots (a pre_restore snapshot is taken first; "
        "the account is in maintenance meanwhile). --dry-run prints what would change."
    )

    def add_arguments(self, parser):
        parser.add_argument("id", type=int)
        parser.add_argument("--kind", required=True, choices=restore.KINDS)
        parser.add_argument(
            "--entity-types",
            default="",
            help="For --kind entities: comma-separated, among " + ", ".join(restore.ENTITY_TABLES),
        )
        parser.add_argument("--dry-run", action="store_true", help="Print the preview only.")

    def handle(self, *args, id, kind, entity_types, dry_run, **options):
        snapshot = Snapshot.objects.select_related("account").filter(pk=id).first()
        if snapshot is None:
            raise CommandError(f"No snapshot #{id}.")
        types = [t.strip() for t in entity_types.split(",") if t.strip()] or None
        label = (
            f"snapshot #{id} of {snapshot.account.name} ({snapshot.taken_at:%Y-%m-%d %H:%M} UTC)"
        )
        try:
            if dry_run:
                changes = restore.preview(snapshot=snapshot, kind=kind, entity_types=types)
            else:
                started = time.perf_counter()
                outcome = restore.snapshot_restore(snapshot=snapshot, kind=kind, entity_types=types)
        except restore.RestoreRefused as error:
            raise CommandError(f"Refused: {error.message}") from None
        if dry_run:
            self.stdout.write(f"Dry run: a {kind} restore from {label} would change:")
            for entity_type, numbers in changes.items():
                self.stdout.write(
                    f"  {entity_type}: {numbers['removed']} removed, "
                    f"{numbers['restored']} restored, {numbers['reverted']} reverted"
                )
            return
        self.stdout.write(
            f"Restored ({kind}) from {label} in {time.perf_counter() - started:.1f} s; "
            f"undo with snapshot #{outcome.pre_restore_snapshot_id}."
        )
        for table, counts in outcome.counts.items():
            numbers = ", ".join(f"{value} {name}" for name, value in counts.items())
            self.stdout.write(f"  {table}: {numbers}")
        for table, columns in outcome.links_nulled.items():
            for column, count in columns.items():
                self.stdout.write(f"  {table}.{column}: {count} links to missing records cleared")
        for table, count in outcome.skipped.items():
            self.stdout.write(f"  {table}: {count} rows skipped (what they belong to is gone)")
