"""A restore writes what it did to each record on that record (API.md, "Change log"), on both
databases, in the restore's transaction."""

import pytest

from backups.restore import snapshot_restore
from backups.tests.factories import snapshot_taken
from crm import services as crm_services
from crm.entities import ENTITIES
from crm.models import Company, Deal, Lead
from history.models import Event, EventType
from recyclebin import services as bin_services
from recyclebin.models import BinEntry

pytestmark = pytest.mark.django_db(transaction=True)
CRM_TABLES = {entity.table for entity in ENTITIES.values()}


def _since(event_id: int, **filters) -> list[Event]:
    return list(Event.objects.filter(pk__gt=event_id, **filters).order_by("pk"))


def _last_event_id() -> int:
    last = Event.objects.order_by("-pk").first()
    return last.pk if last else 0


def test_a_full_restore_writes_an_event_on_every_record_it_changed(
    filled, admin_user, other_account
):
    account = filled
    snapshot = snapshot_taken(account, admin_user)
    company = Company.objects.filter(account=account).order_by("pk").first()
    old_title = company.title
    crm_services.record_update(record=company, actor=admin_user, data={"title": "Renamed"})
    newer = crm_services.record_create(
        account=account,
        actor=admin_user,
        entity=ENTITIES["company"],
        data={"title": "Newer", "phone": "+1 555"},
    )
    deal = Deal.objects.filter(account=account, bin_entry__isnull=True).first()
    crm_services.record_delete(record=deal, actor=admin_user)
    binned = BinEntry.objects.filter(account=account, title__endswith="binned").get()
    purged = (binned.entity_type, binned.entity_id)
    bin_services.bin_purge(account=account, entry_ids=[binned.pk], actor=admin_user)
    since = _last_event_id()

    outcome = snapshot_restore(snapshot=snapshot, kind="full", actor=admin_user)

    events = _since(since, event_type=EventType.ROLLBACK)
    (overall,) = [e for e in events if e.entity_id is None]
    records = {(e.entity_type, e.entity_id): e for e in events if e.entity_id is not None}
    assert len(records) == len(events) - 1  # one per record
    # As many as the rows it changed in the CRM's tables.
    assert len(records) == sum(
        sum(counts.values()) for table, counts in outcome.counts.items() if table in CRM_TABLES
    )
    assert all(e.occurred_at == overall.occurred_at for e in events)
    assert all(e.actor_id == admin_user.pk for e in events)
    assert all(e.details["snapshot"] == snapshot.pk for e in records.values())

    renamed = records[("company", company.pk)]
    assert renamed.details["action"] == "reverted"
    assert renamed.changes == {"title": ["Renamed", old_title]}
    assert renamed.entity_title == old_title

    gone = records[("company", newer.pk)]
    assert gone.details["action"] == "removed"
    assert gone.changes == {"title": ["Newer", None], "phone": ["+1 555", None]}

    back_from_bin = records[("deal", deal.pk)]
    assert back_from_bin.details["action"] == "brought_back"
    assert records[purged].details["action"] == "brought_back"
    assert records[purged].changes == {}
    # Where each was before and after: a record comes back out of the bin, or from nowhere
    # into it (purged since the snapshot, in the bin then).
    assert renamed.details["state"] == ["live", "live"]
    assert gone.details["state"] == ["live", "gone"]
    assert back_from_bin.details["state"] == ["bin", "live"]
    assert records[purged].details["state"] == ["gone", "bin"]

    # The other account's records got nothing; the record's own history tells the story.
    assert not Event.objects.filter(pk__gt=since, account=other_account).exists()
    trail = Event.objects.filter(account=account, entity_type="company", entity_id=company.pk)
    assert list(trail.order_by("pk").values_list("event_type", flat=True))[-2:] == [
        "update",
        "rollback",
    ]


def test_reverted_links_and_amounts_are_written_as_the_history_writes_them(filled, admin_user):
    account = filled
    lead = Lead.objects.filter(account=account, bin_entry__isnull=True, amount__isnull=False)[0]
    snapshot = snapshot_taken(account, admin_user)
    amount = lead.amount
    Lead.objects.filter(pk=lead.pk).update(amount="99999.00", title="bulk")
    since = _last_event_id()

    snapshot_restore(snapshot=snapshot, kind="full", actor=admin_user)

    (event,) = _since(since, entity_type="lead", entity_id=lead.pk)
    assert event.changes["amount"] == ["99999.00", f"{amount:.2f}"]
    assert event.changes["title"][0] == "bulk"


def test_recover_writes_only_what_it_brought_back(filled, admin_user):
    account = filled
    snapshot = snapshot_taken(account, admin_user)
    company = Company.objects.filter(account=account).order_by("pk").first()
    crm_services.record_update(record=company, actor=admin_user, data={"title": "Kept"})
    binned = BinEntry.objects.filter(account=account, title__endswith="binned").get()
    purged = (binned.entity_type, binned.entity_id)
    bin_services.bin_purge(account=account, entry_ids=[binned.pk], actor=admin_user)
    since = _last_event_id()

    snapshot_restore(snapshot=snapshot, kind="recover", actor=admin_user)

    records = [e for e in _since(since, event_type=EventType.RECOVER) if e.entity_id]
    assert (purged[0], purged[1]) in {(e.entity_type, e.entity_id) for e in records}
    assert {e.details["action"] for e in records} == {"brought_back"}
    assert not _since(since, entity_type="company", entity_id=company.pk)


def test_a_restore_that_changes_nothing_writes_only_its_own_event(filled, admin_user):
    snapshot = snapshot_taken(filled, admin_user)
    since = _last_event_id()

    snapshot_restore(snapshot=snapshot, kind="full", actor=admin_user)

    assert [e.entity_id for e in _since(since, event_type=EventType.ROLLBACK)] == [None]


def test_the_api_shows_a_records_restore_on_its_history(filled, admin_user, api_as):
    account = filled
    snapshot = snapshot_taken(account, admin_user)
    company = Company.objects.filter(account=account).order_by("pk").first()
    old_title = company.title
    crm_services.record_update(record=company, actor=admin_user, data={"title": "Renamed"})
    snapshot_restore(snapshot=snapshot, kind="full", actor=admin_user)

    body = (
        api_as(admin_user)
        .get("/api/v1/history/", {"entity_type": "company", "entity_id": company.pk})
        .json()
    )

    newest = body["results"][0]
    assert newest["event_type"] == "rollback"
    assert newest["changes"] == {"title": ["Renamed", old_title]}
    assert newest["entity_title"] == old_title


def test_entities_writes_the_links_it_clears_and_the_activities_it_removes(filled, admin_user):
    """A company made after the snapshot goes with an ``entities`` restore of companies: the
    contact that linked to it keeps living without the link, its activity cannot."""
    account = filled
    snapshot = snapshot_taken(account, admin_user)
    newer = crm_services.record_create(
        account=account, actor=admin_user, entity=ENTITIES["company"], data={"title": "Newer"}
    )
    contact = crm_services.record_create(
        account=account,
        actor=admin_user,
        entity=ENTITIES["contact"],
        data={"first_name": "Linked", "company": newer},
    )
    activity = crm_services.record_create(
        account=account,
        actor=admin_user,
        entity=ENTITIES["activity"],
        data={"subject": "Call Newer", "type": "call", "company": newer},
    )
    since = _last_event_id()

    snapshot_restore(snapshot=snapshot, kind="entities", entity_types=["company"], actor=admin_user)

    records = {
        (e.entity_type, e.entity_id): e
        for e in _since(since, event_type=EventType.ROLLBACK)
        if e.entity_id
    }
    assert records[("company", newer.pk)].details["action"] == "removed"
    unlinked = records[("contact", contact.pk)]
    assert (unlinked.details["action"], unlinked.changes) == (
        "reverted",
        {"company": [newer.pk, None]},
    )
    assert unlinked.entity_title == "Linked"
    orphan = records[("activity", activity.pk)]
    assert orphan.details["action"] == "removed"
    assert orphan.changes["subject"] == ["Call Newer", None]
    assert orphan.changes["company"] == [newer.pk, None]
