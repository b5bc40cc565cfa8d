"""Pages kept whole (core.page_cache): the history's and the bin's own part is worked out once
while the account's history stays the same, and anew as soon as anything writes an event;
each reader has their own; forms in a kept part carry the reader's own CSRF token."""

import re

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import login_client
from core.page_cache import CSRF_PLACEHOLDER
from crm import services as crm_services
from crm.entities import ENTITIES
from history.models import Event
from history.selectors import history_version
from history.services import _HistoryChanged, history_changed, history_record
from recyclebin.models import BinEntry, RestoreJob
from recyclebin.tests.factories import entry_make

HISTORY = reverse("history:list")
BIN = reverse("recyclebin:list")


def _company(account, actor, title: str):
    return crm_services.record_create(
        account=account, actor=actor, entity=ENTITIES["company"], data={"title": title}
    )


def _event_reads(queries) -> list[str]:
    """The statements that read the history's events, not counting the version's MAX(id)."""
    table = Event._meta.db_table
    return [q["sql"] for q in queries if table in q["sql"] and "MAX(id)" not in q["sql"]]


@pytest.mark.django_db
def test_a_reload_of_an_unchanged_history_reads_no_events(account, admin_user):
    _company(account, admin_user, "Alpha Ltd")
    client = login_client(admin_user)
    first = client.get(HISTORY)
    assert "Alpha Ltd" in first.content.decode()
    with CaptureQueriesContext(connection) as queries:
        again = client.get(HISTORY)
    assert again.status_code == 200 and "Alpha Ltd" in again.content.decode()
    assert _event_reads(queries.captured_queries) == []
    # A new event of any writer changes the version: the next view shows it.
    _company(account, admin_user, "Beta GmbH")
    with CaptureQueriesContext(connection) as queries:
        changed = client.get(HISTORY)
    assert "Beta GmbH" in changed.content.decode()
    assert _event_reads(queries.captured_queries)


@pytest.mark.django_db
def test_the_bin_shows_a_deletion_restore_and_new_job_at_once(account, admin_user):
    client = login_client(admin_user)
    entry = entry_make("company", account=account, actor=admin_user, title="Gamma AG")
    assert "Gamma AG" in client.get(BIN).content.decode()
    client.get(BIN)  # kept
    kept = entry_make("lead", account=account, actor=admin_user, title="Delta Lead")
    page = client.get(BIN).content.decode()
    assert "Gamma AG" in page and "Delta Lead" in page
    from recyclebin import services as bin_services

    bin_services.bin_restore(account=account, entry_ids=[entry.pk], actor=admin_user)
    page = client.get(BIN).content.decode()
    assert "Gamma AG" not in page and "Delta Lead" in page
    # A job changes no event until it ends: the page is not kept while one is queued.
    RestoreJob.objects.create(
        account=account, total=1, entry_ids=[kept.pk], requested_by=admin_user
    )
    assert f'data-job="{RestoreJob.objects.get().pk}"' in client.get(BIN).content.decode()


@pytest.mark.django_db
def test_each_reader_has_their_own_part(account, admin_user, employee):
    entry_make("company", account=account, actor=admin_user, title="Admins Own")
    entry_make("company", account=account, actor=employee, title="Employees Own")
    admin = login_client(admin_user)
    assert "Admins Own" in admin.get(BIN).content.decode()
    assert "Admins Own" in admin.get(BIN).content.decode()
    page = login_client(employee).get(BIN).content.decode()
    assert "Employees Own" in page and "Admins Own" not in page
    # The language is part of the key too.
    admin.cookies["django_language"] = "de"
    german = admin.get(BIN).content.decode()
    assert "Papierkorb" in german


@pytest.mark.django_db
def test_a_kept_parts_forms_carry_the_readers_own_csrf_token(account, admin_user):
    entry = entry_make("company", account=account, actor=admin_user, title="Epsilon SA")
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    client.get(BIN)
    kept = client.get(BIN).content.decode()  # the part from the cache
    assert CSRF_PLACEHOLDER not in kept
    form = kept[kept.index('class="binform"') :]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    answer = client.post(
        reverse("recyclebin:restore"), {"entry": entry.pk, "csrfmiddlewaretoken": token}
    )
    assert answer.status_code == 302
    assert not BinEntry.objects.filter(pk=entry.pk).exists()
    # Another browser gets its own token, never the first one's.
    other = Client(enforce_csrf_checks=True)
    other.force_login(admin_user)
    entry_make("company", account=account, actor=admin_user, title="Zeta")
    other.get(BIN)
    again = other.get(BIN).content.decode()
    assert CSRF_PLACEHOLDER not in again and token not in again


@pytest.mark.django_db
def test_nothing_is_kept_when_the_setting_says_zero(account, admin_user, settings):
    settings.PAGE_PART_SECONDS = 0
    _company(account, admin_user, "Eta")
    client = login_client(admin_user)
    client.get(HISTORY)
    with CaptureQueriesContext(connection) as queries:
        client.get(HISTORY)
    assert _event_reads(queries.captured_queries)


@pytest.mark.django_db(transaction=True)
def test_an_event_committed_after_a_newer_one_still_changes_the_version(account):
    """Two transactions: the one holding the older id commits last. The newest id is the same
    before and after; the mark set on commit tells the change."""
    with transaction.atomic():
        history_record(account=account, actor=None, event_type="update", title="newest")
    before = history_version(account=account)
    with transaction.atomic():
        history_changed(account.pk)  # as the older event's writer does
        assert history_version(account=account) == before  # not before its commit
    after = history_version(account=account)
    assert after[0] == before[0] and after != before


@pytest.mark.django_db
def test_one_mark_per_account_and_transaction_and_none_for_a_rollback(
    account, other_account, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as hooks:
        for n in range(5):
            history_record(account=account, actor=None, event_type="update", title=f"e{n}")
        try:
            with transaction.atomic():
                history_record(account=other_account, actor=None, event_type="update")
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
    marks = [hook.account_id for hook in hooks if isinstance(hook, _HistoryChanged)]
    assert marks == [account.pk]
