"""Plans and the features each includes: the one place that says which plan may do what.

Code asks ``plan_has(plan, Feature.X)`` or ``plan_require(...)`` (accounts.rules); templates get
``plan_features`` and ``PLAN_CATALOG`` from the tenancy context processor.
"""

from dataclasses import dataclass
from enum import StrEnum

from django.db import models
from django.utils.translation import gettext_lazy as _


class Plan(models.TextChoices):
    FREE = "free", _("Free")
    BASIC = "basic", _("Basic")
    STANDARD = "standard", _("Standard")
    PROFESSIONAL = "professional", _("Professional")


class Feature(StrEnum):
    CRM = "crm"
    RECYCLE_BIN = "recycle_bin"
    HISTORY = "history"
    NIGHTLY_SNAPSHOTS = "nightly_snapshots"
    BIN_RESTORE = "bin_restore"
    REVERT = "revert"
    RESTORE_REQUESTS = "restore_requests"
    SNAPSHOT_ON_DEMAND = "snapshot_on_demand"
    CHANGE_ALERTS = "change_alerts"


FEATURE_LABELS = {
    Feature.CRM: _("Leads, deals, contacts, companies and activities"),
    Feature.RECYCLE_BIN: _("Recycle bin: every deletion is kept 30 days"),
    Feature.HISTORY: _("History of every change, filterable"),
    Feature.NIGHTLY_SNAPSHOTS: _("Nightly snapshots of the whole account, kept 7 days"),
    Feature.BIN_RESTORE: _("Restore deleted items from the recycle bin"),
    Feature.REVERT: _("Undo any change from the history: one edit, or a whole import"),
    Feature.RESTORE_REQUESTS: _("Restore requests: support rolls the account back from a snapshot"),
    Feature.SNAPSHOT_ON_DEMAND: _("A snapshot on demand, before a risky import (one an hour)"),
    Feature.CHANGE_ALERTS: _("Alerts when someone deletes or changes many records at once"),
}

_EVERY_PLAN = frozenset(
    {Feature.CRM, Feature.RECYCLE_BIN, Feature.HISTORY, Feature.NIGHTLY_SNAPSHOTS}
)

PLAN_FEATURES: dict[str, frozenset[Feature]] = {
    Plan.FREE: _EVERY_PLAN,
    Plan.BASIC: _EVERY_PLAN | {Feature.BIN_RESTORE, Feature.REVERT},
    Plan.STANDARD: _EVERY_PLAN | {Feature.BIN_RESTORE, Feature.REVERT, Feature.RESTORE_REQUESTS},
    Plan.PROFESSIONAL: _EVERY_PLAN
    | {
        Feature.BIN_RESTORE,
        Feature.REVERT,
        Feature.RESTORE_REQUESTS,
        Feature.SNAPSHOT_ON_DEMAND,
        Feature.CHANGE_ALERTS,
    },
}


@dataclass(frozen=True)
class PlanOffer:
    plan: Plan
    monthly_price_eur: int
    features: frozenset[Feature]

    @property
    def label(self) -> str:
        return str(self.plan.label)

    def feature_rows(self) -> list[tuple[str, bool]]:
        """Every feature with whether this plan has it, in a stable order, for the pricing table."""
        return [(str(FEATURE_LABELS[f]), f in self.features) for f in Feature]


PLAN_CATALOG: tuple[PlanOffer, ...] = tuple(
    PlanOffer(plan=plan, monthly_price_eur=price, features=PLAN_FEATURES[plan])
    for plan, price in (
        (Plan.FREE, 0),
        (Plan.BASIC, 29),
        (Plan.STANDARD, 69),
        (Plan.PROFESSIONAL, 139),
    )
)


def plan_has(plan: str, feature: Feature) -> bool:
    return feature in PLAN_FEATURES[Plan(plan)]
