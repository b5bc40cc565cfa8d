"""Backups test helpers: an account full of awkward data, and the live rows of a snapshot's
tables, to compare with what a file holds."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from backups.models import Snapshot
from backups.snapshot_format import TABLES
from crm.tests.factories import (
    ActivityFactory,
    CompanyFactory,
    ContactFactory,
    DealFactory,
    LeadFactory,
)
from recyclebin import services as bin_services

AWKWARD = [
    "Müller & Söhne — 北京 🚀",
    "tab\there",
    "line\nbreak\r\nand return",
    "back\\slash \\N \\. end\\",
    "\\.",
    "",
    "vertical\vform\ffeed\bbackspace",
]


def account_fill(account, *, actor=None, prefix: str = "") -> None:
    """Every table of a snapshot gets rows, with the values that break naive formats:
    unicode, tabs, newlines, backslashes, empty strings, NULLs, decimals, dates, booleans,
    bin entries and hidden links."""
    companies = [
        CompanyFactory(account=account, title=f"{prefix}{text}", comments=text, address=text)
        for text in AWKWARD
    ]
    contacts = [
        ContactFactory(account=account, first_name=f"{prefix}Zoë", company=companies[0]),
        ContactFactory(account=account, first_name=f"{prefix}Noa\tTab", last_name="", company=None),
    ]
    LeadFactory(account=account, title=f"{prefix}no amount", amount=None, source="")
    LeadFactory(account=account, title=f"{prefix}cents", amount=Decimal("1234567890.05"))
    LeadFactory(account=account, title=f"{prefix}zero", amount=Decimal("0.00"))
    deal = DealFactory(
        account=account,
        title=f"{prefix}Deal\nwith break",
        amount=Decimal("99.90"),
        company=companies[1],
        contact=contacts[0],
        close_date=date(2031, 12, 31),
    )
    ActivityFactory(
        account=account,
        company=None,
        deal=deal,
        subject=f"{prefix}call",
        description="multi\nline\\",
        due_at=datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        completed=True,
    )
    ActivityFactory(account=account, company=companies[2], subject=f"{prefix}on company")
    # Into the bin: a company with a contact linking to it (a hidden link) and an activity.
    binned = CompanyFactory(account=account, title=f"{prefix}binned")
    ContactFactory(account=account, first_name=f"{prefix}linked", company=binned)
    ActivityFactory(account=account, company=binned, subject=f"{prefix}goes along")
    bin_services.bin_delete(record=binned, actor=actor)


def live_rows(account) -> dict[str, list[tuple]]:
    """Every row of every snapshot table of the account, in the file's order (by id)."""
    return {
        table.name: [
            tuple(row)
            for row in table.queryset(account.pk)
            .order_by("pk")
            .values_list(*[f.attname for f in table.fields])
        ]
        for table in TABLES
    }


def snapshot_row(account, **kwargs) -> Snapshot:
    """A finished snapshot row without a file (for lists and permissions)."""
    now = timezone.now()
    values = {
        "kind": Snapshot.Kind.NIGHTLY,
        "status": Snapshot.Status.SUCCEEDED,
        "taken_at": now,
        "day": now.date(),
        "expires_at": now + timedelta(days=7),
        "size_bytes": 123_456,
        "counts": {table.name: 1 for table in TABLES},
        "checksum": "0" * 64,
        "format_version": 1,
    }
    values.update(kwargs)
    return Snapshot.objects.create(account=account, **values)


def snapshot_taken(account, actor=None) -> Snapshot:
    """A manual snapshot of the account, taken now (and checked to have succeeded)."""
    from backups import services

    snapshot = services.snapshot_take(account=account, kind="manual", actor=actor)
    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.error
    return snapshot
