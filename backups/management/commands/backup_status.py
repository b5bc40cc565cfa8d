from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count
from django.utils import timezone

from backups.drill import drills_overdue
from backups.models import Snapshot


class Command(BaseCommand):
    help = (
        "The kept snapshots and their restore drills. Exits with status 1 while any kept "
        "snapshot is unproven past its deadline (DRILL_DEADLINE_MINUTES) or failed its drill."
    )

    def handle(self, *args, **options):
        kept = Snapshot.objects.filter(
            status=Snapshot.Status.SUCCEEDED, expires_at__gt=timezone.now()
        )
        by_drill = dict(
            kept.values_list("drill_status")
            .annotate(n=Count("id"))
            .values_list("drill_status", "n")
        )
        self.stdout.write(
            f"Kept snapshots: {kept.count()}; proven {by_drill.get('passed', 0)}, "
            f"pending {by_drill.get('pending', 0)}, failed {by_drill.get('failed', 0)}."
        )
        overdue = drills_overdue()
        for snapshot in overdue:
            state = (
                f"FAILED its drill: {snapshot.drill_error}"
                if snapshot.drill_status == Snapshot.Drill.FAILED
                else "not drilled past its deadline"
            )
            self.stderr.write(
                f"Snapshot #{snapshot.pk} of {snapshot.account.name} ({snapshot.kind}, "
                f"{snapshot.taken_at:%Y-%m-%d %H:%M} UTC): {state}"
            )
        if overdue:
            raise CommandError(f"{len(overdue)} kept snapshot(s) are not proven.")
        self.stdout.write("Every kept snapshot is proven or within its deadline.")
