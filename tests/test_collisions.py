"""Nothing lost when people collide (issue 15): pairs of writes on the same records at the same
moment, on two PostgreSQL connections released together by a barrier, each pairing 20 times.
After every run the account's invariants hold (backups.integrity: a record wholly live or wholly
in the bin with what went with it, no entry listing a live record, no live link into the bin),
and the loser of a race is refused like a missing record, never applied to stale state.

delete x update, update x update and relink x delete live in crm/tests/test_concurrency.py."""

from datetime import timedelta
from functools import partial

import pytest
from django.db import connection
from django.utils import timezone

from backups.integrity import integrity_breaches
from core.errors import RuleViolation
from crm import services as crm_services
from crm.models import Company, Contact, Deal
from crm.tests.factories import ActivityFactory, CompanyFactory, ContactFactory, DealFactory
from history.models import Event, EventType
from recyclebin import services as bin_services
from recyclebin.models import BinEntry
from tests.concurrency import at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RUNS = 20


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")


def consistent(account) -> None:
    assert integrity_breaches(account=account) == []


def not_found(result) -> bool:
    return isinstance(result, RuleViolation) and result.code == "not_found"


def binned_deal(account, admin_user) -> tuple[Deal, BinEntry]:
    deal = DealFactory(account=account)
    ActivityFactory(account=account, company=None, deal=deal)
    return deal, crm_services.record_delete(record=deal, actor=admin_user)


def test_two_deletes_of_one_record_make_one_entry(account, admin_user):
    for _ in range(RUNS):
        deal = DealFactory(account=account)
        ActivityFactory(account=account, company=None, deal=deal)
        first, second = Deal.objects.get(pk=deal.pk), Deal.objects.get(pk=deal.pk)

        results = at_once(
            partial(crm_services.record_delete, record=first, actor=admin_user),
            partial(crm_services.record_delete, record=second, actor=admin_user),
        )

        entries = [r for r in results if isinstance(r, BinEntry)]
        assert len(entries) == 1 and sum(map(not_found, results)) == 1, results
        assert BinEntry.objects.filter(entity_type="deal", entity_id=deal.pk).count() == 1
        consistent(account)


def test_a_restore_and_an_edit_at_once(account, admin_user):
    for run in range(RUNS):
        deal, entry = binned_deal(account, admin_user)
        stale = Deal.objects.get(pk=deal.pk)  # as a page that loaded it before it was deleted

        restored, edited = at_once(
            partial(
                bin_services.bin_restore, account=account, entry_ids=[entry.pk], actor=admin_user
            ),
            partial(
                crm_services.record_update,
                record=stale,
                actor=admin_user,
                data={"title": f"E{run}"},
            ),
        )

        assert isinstance(restored, bin_services.RestoreResult), restored
        deal.refresh_from_db()
        assert deal.bin_entry_id is None  # back, with its activity
        if isinstance(edited, dict):  # the restore committed first: the edit applies to it live
            assert deal.title == f"E{run}"
        else:
            assert not_found(edited), edited
        consistent(account)


def test_a_restore_and_a_purge_of_one_entry_at_once(account, admin_user):
    outcomes = []
    for _ in range(RUNS):
        deal, entry = binned_deal(account, admin_user)

        restored, purged = at_once(
            partial(
                bin_services.bin_restore, account=account, entry_ids=[entry.pk], actor=admin_user
            ),
            partial(
                bin_services.bin_purge, account=account, entry_ids=[entry.pk], actor=admin_user
            ),
        )

        assert not BinEntry.objects.filter(pk=entry.pk).exists()
        if isinstance(restored, bin_services.RestoreResult):
            assert not_found(purged), purged
            assert Deal.objects.get(pk=deal.pk).bin_entry_id is None
            outcomes.append("restored")
        else:
            assert not_found(restored) and purged == 1, (restored, purged)
            assert not Deal.objects.filter(pk=deal.pk).exists()
            outcomes.append("purged")
        consistent(account)


def test_a_purge_and_an_edit_at_once(account, admin_user):
    for _ in range(RUNS):
        deal = DealFactory(account=account)
        stale = Deal.objects.get(pk=deal.pk)
        entry = crm_services.record_delete(record=deal, actor=admin_user)

        purged, edited = at_once(
            partial(
                bin_services.bin_purge, account=account, entry_ids=[entry.pk], actor=admin_user
            ),
            partial(
                crm_services.record_update, record=stale, actor=admin_user, data={"title": "x"}
            ),
        )

        assert purged == 1 and not_found(edited), (purged, edited)
        assert not Deal.objects.filter(pk=deal.pk).exists()
        consistent(account)


def test_a_bulk_restore_and_a_delete_of_a_link_target_at_once(account, admin_user):
    """Contacts come back from the bin while the company they link to is deleted: they end up
    live with the link hidden (to come back with the company), never linking into the bin."""
    for _ in range(RUNS):
        company = CompanyFactory(account=account)
        contacts = [ContactFactory(account=account, company=company) for _ in range(3)]
        entries = [crm_services.record_delete(record=c, actor=admin_user) for c in contacts]
        target = Company.objects.get(pk=company.pk)

        restored, deleted = at_once(
            partial(
                bin_services.bin_restore,
                account=account,
                entry_ids=[e.pk for e in entries],
                actor=admin_user,
            ),
            partial(crm_services.record_delete, record=target, actor=admin_user),
        )

        assert isinstance(restored, bin_services.RestoreResult), restored
        assert isinstance(deleted, BinEntry), deleted
        live = Contact.objects.filter(pk__in=[c.pk for c in contacts], bin_entry__isnull=True)
        assert live.count() == 3
        assert not live.filter(company__isnull=False).exists()
        consistent(account)
        # Restoring the company puts every link back.
        bin_services.bin_restore(account=account, entry_ids=[deleted.pk], actor=admin_user)
        assert Contact.objects.filter(pk__in=[c.pk for c in contacts], company=company).count() == 3
        consistent(account)


def test_the_automatic_purge_and_a_restore_at_once(account, admin_user):
    for _ in range(RUNS):
        deal, entry = binned_deal(account, admin_user)
        BinEntry.objects.filter(pk=entry.pk).update(purge_after=timezone.now() - timedelta(1))

        purged, restored = at_once(
            bin_services.bin_purge_expired,
            partial(
                bin_services.bin_restore, account=account, entry_ids=[entry.pk], actor=admin_user
            ),
        )

        assert not isinstance(purged, Exception), purged  # the automatic purge never fails
        assert not BinEntry.objects.filter(pk=entry.pk).exists()
        if isinstance(restored, bin_services.RestoreResult):
            assert purged == 0 and Deal.objects.get(pk=deal.pk).bin_entry_id is None
        else:
            assert not_found(restored) and purged == 1, (restored, purged)
            assert not Deal.objects.filter(pk=deal.pk).exists()
        consistent(account)
        # Every change has its event on the record (factories write no create event).
        events = set(
            Event.objects.filter(entity_type="deal", entity_id=deal.pk).values_list(
                "event_type", flat=True
            )
        )
        assert events in (
            {EventType.DELETE, EventType.RESTORE},
            {EventType.DELETE, EventType.PURGE},
        )


def test_a_restore_job_and_edits_at_once(account, admin_user, settings):
    """A restore job (a bulk restore big enough for a worker, here in a thread, a few entries a
    chunk) while someone purges one of its entries, deletes the company its contacts link to,
    and deletes another of its contacts' siblings: the job completes, skipping what is gone;
    every contact is wholly back (its link hidden while the company is in the bin) or purged."""
    from recyclebin.job_worker import restore_job_run
    from recyclebin.models import RestoreJob

    settings.BIN_RESTORE_JOB_CHUNK = 2
    for _ in range(RUNS):
        company = CompanyFactory(account=account)
        contacts = [ContactFactory(account=account, company=company) for _ in range(6)]
        entries = [crm_services.record_delete(record=c, actor=admin_user) for c in contacts]
        bystander = ContactFactory(account=account, company=company)
        job = bin_services.restore_job_create(
            account=account, entry_ids=[e.pk for e in entries], actor=admin_user
        )

        def edits(purged=entries[3], bystander=bystander, company=company):
            try:
                bin_services.bin_purge(account=account, entry_ids=[purged.pk], actor=admin_user)
            except RuleViolation as lost:  # the job restored it first
                assert lost.code == "not_found", lost
            crm_services.record_delete(record=bystander, actor=admin_user)
            target = Company.objects.get(pk=company.pk)
            return crm_services.record_delete(record=target, actor=admin_user)

        ran, deleted = at_once(partial(restore_job_run, job_id=job.pk), edits)

        assert ran == "completed", ran
        assert isinstance(deleted, BinEntry), deleted
        job = RestoreJob.objects.get(pk=job.pk)
        assert (job.done, job.restored + job.skipped) == (6, 6)
        back = Contact.objects.filter(pk__in=[c.pk for c in contacts], bin_entry__isnull=True)
        purged = not Contact.objects.filter(pk=contacts[3].pk).exists()
        assert back.count() == job.restored == (5 if purged else 6)
        assert job.skipped == (1 if purged else 0)
        assert not back.filter(company__isnull=False).exists()  # the company is in the bin
        consistent(account)
        # The company back: every restored contact links to it again.
        bin_services.bin_restore(account=account, entry_ids=[deleted.pk], actor=admin_user)
        assert Contact.objects.filter(pk__in=[c.pk for c in back], company=company).count() == (
            job.restored
        )
        consistent(account)
