"""The Backups page (account admins): the account's snapshots, times in its time zone."""

from django.conf import settings
from django.views.generic import TemplateView

from accounts.rules import admin_require
from backups.selectors import snapshots_for_account
from backups.serializers import entity_counts
from crm.entities import ENTITIES
from crm.views import MemberRequiredMixin

PAGE_LIMIT = 200  # retention keeps a week of snapshots; this bounds a page regardless


class SnapshotListView(MemberRequiredMixin, TemplateView):
    template_name = "backups/snapshot_list.html"

    def member_checked(self) -> None:
        admin_require(user=self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        snapshots = list(snapshots_for_account(account=self.account)[:PAGE_LIMIT])
        context.update(
            nav="backups",
            retention_days=settings.SNAPSHOT_RETENTION_DAYS,
            time_zone=self.account.time_zone,
            rows=[
                {
                    "snapshot": snapshot,
                    "counts": [
                        (entity.verbose_name_plural, entity_counts(snapshot).get(key, 0))
                        for key, entity in ENTITIES.items()
                    ],
                    "in_bin": entity_counts(snapshot).get("bin_entry", 0),
                }
                for snapshot in snapshots
            ],
        )
        return context
