"""The customer's story end to end, in a real browser (Debian's chromium through Playwright),
as the people who live it: an employee and an account admin, in English and in German (the
language chosen with the switch at the bottom of the page). Only the UI: fixtures make the
accounts, users, records, deletions and snapshots; every step after the login is a click, a
form, or (where the page offers nothing) a hand-made POST that must be refused.

1. An employee creates a contact, deletes it, finds it in their recycle bin (not what others
   deleted), restores it; cannot purge; reads the deletions in the history. On the free plan,
   restoring is not offered and the page says why, with a link to the pricing page.
2. An admin follows the help article's four steps: the recycle bin (filter, restore, purge),
   the history filtered to deletions, a snapshot's preview of what a recover would bring back,
   and a restore request.
3. The filters of the recycle bin and the history: rows, active filters, clearing, empty state.
4. German throughout: the labels of the story's pages change when the language is switched.

Every test fails if a page broke under the Content-Security-Policy or threw a script error.

Screenshots: docs/screenshots/journey-{en,de}-{bin,history,backups-preview,request}.png."""

from datetime import date, datetime, time, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone, translation
from django.utils.formats import date_format

from accounts.models import User
from accounts.services import account_create, user_create
from backups.models import Snapshot
from backups.services import snapshot_delete, snapshot_take
from conftest import PASSWORD
from crm import services as crm_services
from crm.entities import ENTITIES
from crm.models import Company, Contact
from recyclebin import services as bin_services
from recyclebin.models import BinEntry
from support.models import RestoreRequest
from tests.browser import (
    assert_times_localized,
    chromium,
    click_and_wait,
    login,
    open_tab,
    post_unoffered,
    shot,
    shown_time,
    switch_language,
    tr,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LANGUAGES = ["en", "de"]

# What the pages must say, written out (not looked up) so that a missing German translation
# fails here instead of passing as English on both sides.
WORDS = {
    "en": {
        "contacts": "Contacts",
        "history": "History",
        "bin": "Recycle bin",
        "backups": "Backups",
        "requests": "Restore requests",
        "move_to_bin": "Yes, move to the recycle bin",
        "restore": "Restore",
        "purge": "Delete…",
        "purge_confirm": "Yes, delete permanently",
        "delete_event": "Delete",
        "restore_event": "Restore",
        "filtered_by": "Filtered by",
        "reset": "Reset all filters",
        "company": "Company",
        "lead": "Lead",
        "type": "Type",
        "deleted_by": "Deleted by",
        "user": "User",
        "event": "Event",
        "title": "Title",
        "no_bin_match": "No entries match these filters.",
        "no_event_match": "No events match these filters.",
        "bin_empty": "The recycle bin is empty.",
        "paid_plan": "Restoring needs a paid plan",
        "pricing": "Plans and pricing",
        "preview_title": "What a restore would change",
        "open": "Open",
    },
    "de": {
        "contacts": "Kontakte",
        "history": "Verlauf",
        "bin": "Papierkorb",
        "backups": "Sicherungen",
        "requests": "Wiederherstellungsanfragen",
        "move_to_bin": "Ja, in den Papierkorb verschieben",
        "restore": "Wiederherstellen",
        "purge": "Löschen…",
        "purge_confirm": "Ja, endgültig löschen",
        "delete_event": "Löschen",
        "restore_event": "Wiederherstellen",
        "filtered_by": "Gefiltert nach",
        "reset": "Alle Filter zurücksetzen",
        "company": "Unternehmen",
        "lead": "Lead",
        "type": "Art",  # docs/glossary-de.md
        "deleted_by": "Gelöscht von",
        "user": "Benutzer",
        "event": "Ereignis",
        "title": "Titel",
        "no_bin_match": "Keine Einträge entsprechen diesen Filtern.",
        "no_event_match": "Keine Ereignisse entsprechen diesen Filtern.",
        "bin_empty": "Der Papierkorb ist leer.",
        "paid_plan": "Die Wiederherstellung erfordert einen kostenpflichtigen Tarif",
        "pricing": "Tarife und Preise",
        "preview_title": "Was eine Wiederherstellung ändern würde",
        "open": "Offen",
    },
}

LOSS_REPORT = {
    "en": "Schmidt Logistik AG was deleted this morning and then purged from the recycle bin.",
    "de": "Schmidt Logistik AG wurde heute früh gelöscht und dann aus dem Papierkorb entfernt.",
}

BIN_ROWS = "table.bin tbody tr"
HISTORY_ROWS = "table.history tbody tr"


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


BROWSER_LOCALES = {"en": "en-US", "de": "de-DE"}


@pytest.fixture
def tab(request, browser, live_server):
    """One person's browser window, set to the test's ``language`` (date pickers read it; the
    pages follow the language switch); fails the test if a page broke under the CSP or threw."""
    language = getattr(request.node, "callspec", None) and request.node.callspec.params.get(
        "language"
    )
    opened = open_tab(browser, live_server.url, locale=BROWSER_LOCALES.get(language, "en-US"))
    yield opened
    opened.close()
    opened.assert_clean()


@pytest.fixture
def snapshots_cleaned():
    """Snapshot files go to the shared default folder; leave none behind."""
    yield
    for snapshot in Snapshot.objects.all():
        snapshot_delete(snapshot=snapshot)


# --- Set-up through the services (as the people did it before the browser opens) ----------


def _create(account, actor, entity_type: str, **data):
    return crm_services.record_create(
        account=account, actor=actor, entity=ENTITIES[entity_type], data=data
    )


def _delete(record, actor, *, at: datetime | None = None) -> BinEntry:
    """Delete ``record`` into the bin, at ``at`` if given (the past)."""
    if at is None:
        return crm_services.record_delete(record=record, actor=actor)
    with mock.patch("django.utils.timezone.now", return_value=at):
        return crm_services.record_delete(record=record, actor=actor)


def _days_ago_at_noon(account, days: int) -> datetime:
    """Noon in the account's zone ``days`` ago: far from any midnight a date filter cuts at."""
    zone = ZoneInfo(account.time_zone)
    day = timezone.localdate(timezone=zone) - timedelta(days=days)
    return datetime.combine(day, time(12, 0), tzinfo=zone)


def _local_day(account, days: int) -> str:
    """The account's calendar day ``days`` ago, as a date input takes it (ISO)."""
    zone = ZoneInfo(account.time_zone)
    return (timezone.localdate(timezone=zone) - timedelta(days=days)).isoformat()


def _shown_day(account, days: int, language: str) -> str:
    """That day as a page in ``language`` writes it (Mar 14, 2025; 14. Mär 2025)."""
    with translation.override(language):
        return date_format(date.fromisoformat(_local_day(account, days)), "SHORT_DATE_FORMAT")


def _member(account, username: str, role: str = User.Role.EMPLOYEE) -> User:
    return user_create(
        username=username, password=PASSWORD, account=account, role=role, check_password=False
    )


# --- Reading the pages --------------------------------------------------------------------


def _nav(page, language: str, key: str) -> None:
    link = page.locator("nav.mainnav").get_by_role("link", name=WORDS[language][key], exact=True)
    click_and_wait(page, link)


def _apply_filters(page) -> None:
    click_and_wait(page, "form.filterform button[type=submit]")


def _bin_titles(page) -> list[str]:
    return page.locator(f"{BIN_ROWS} .rowtitle").all_inner_texts()


def _bin_row(page, title: str):
    row = page.locator(BIN_ROWS).filter(has=page.locator(".rowtitle", has_text=title))
    assert row.count() == 1, (title, _bin_titles(page))
    return row


def _history(page) -> list[dict]:
    """The history table's rows: event type, user, entity type label, title."""
    return page.locator(HISTORY_ROWS).evaluate_all(
        """rows => rows.map(row => {
          const cells = row.querySelectorAll("td");
          const evt = row.querySelector(".evt");
          return {
            event: [...evt.classList].find(c => c.startsWith("evt--")).slice(5),
            event_label: evt.textContent.trim(),
            user: cells[1].textContent.trim(),
            type: cells[3].textContent.trim(),
            title: row.querySelector(".rowlink, .rowtitle").textContent.trim(),
          };
        })"""
    )


def _chips(page) -> list[tuple[str, str]]:
    """The active filters as shown: (name, text) per chip."""
    return [
        (chip.get_attribute("data-filter"), " ".join(chip.inner_text().replace("×", "").split()))
        for chip in page.locator(".activefilters .chip").all()
    ]


def _messages(page) -> str:
    return page.inner_text(".messages") if page.locator(".messages").count() else ""


# --- 1. The employee -------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_employee_deletes_a_contact_restores_it_from_their_bin_and_cannot_purge(
    tab, account, admin_user, employee, language
):
    words, page = WORDS[language], tab.page
    # A contact the admin deleted: the employee's recycle bin must not list it.
    others = _create(account, admin_user, "contact", first_name="Olga", last_name="Fremd")
    others_entry = _delete(others, admin_user)

    login(page, employee, language=language)

    # Create a contact.
    _nav(page, language, "contacts")
    page.wait_for_url("**/contacts/")
    click_and_wait(page, "main .page-head a.btn--primary")
    page.wait_for_url("**/contacts/new/")
    page.fill("#id_first_name", "Jonas")
    page.fill("#id_last_name", "Weber")
    click_and_wait(page, "main form [type=submit]")
    contact = Contact.objects.get(account=account, first_name="Jonas", last_name="Weber")
    assert page.url.endswith(f"/contacts/{contact.pk}/")
    assert "Jonas Weber" in _messages(page)

    # Delete it: a confirmation page first, then it is gone from the list.
    click_and_wait(page, "main .page-head .actions a.btn--danger")
    page.wait_for_url(f"**/contacts/{contact.pk}/delete/")
    confirm = page.locator("main .confirm")
    assert "Jonas Weber" in confirm.locator("h1").inner_text()
    assert tr(language, "Until then it can be restored from there, as it was.") in (
        confirm.inner_text()
    )
    button = confirm.locator("button[type=submit]")
    assert button.inner_text() == words["move_to_bin"]
    click_and_wait(page, button)
    page.wait_for_url("**/contacts/")
    assert "Jonas Weber" in _messages(page)
    assert page.locator("main table tbody tr", has_text="Jonas Weber").count() == 0
    entry = BinEntry.objects.get(account=account, entity_type="contact", entity_id=contact.pk)
    assert entry.deleted_by_id == employee.pk

    # The recycle bin: their own deletion only, with who and when; nothing to purge.
    _nav(page, language, "bin")
    page.wait_for_url("**/recyclebin/")
    assert page.locator("main h1").inner_text() == words["bin"]
    assert tr(language, "You see the items you deleted yourself.") in page.inner_text(".lead")
    assert _bin_titles(page) == ["Jonas Weber"]
    assert "Olga Fremd" not in page.inner_text("main")
    row = _bin_row(page, "Jonas Weber")
    assert employee.username in row.inner_text()
    assert assert_times_localized(page, BIN_ROWS, language, account.time_zone) == 2
    assert page.locator("#f-deleted-by").count() == 0  # no "deleted by" filter: all are theirs
    assert page.locator("button[formaction$='/recyclebin/purge/']").count() == 0
    assert page.locator("a[href$='/recyclebin/empty/']").count() == 0
    assert row.locator("button", has_text=words["purge"]).count() == 0

    # A purge posted by hand is refused, and the entry stays.
    post_unoffered(page, "/recyclebin/purge/", [("entry", str(entry.pk)), ("confirm", "1")])
    page.wait_for_url("**/recyclebin/")
    assert tr(language, "Only account admins may do this.") in page.inner_text(
        ".messages .message--error"
    )
    assert BinEntry.objects.filter(pk=entry.pk).exists()
    assert _bin_titles(page) == ["Jonas Weber"]
    # Restoring someone else's entry by hand: not theirs to see, so not found.
    answer = post_unoffered(page, "/recyclebin/restore/", [("entry", str(others_entry.pk))])
    assert answer.status == 404
    assert BinEntry.objects.filter(pk=others_entry.pk).exists()
    page.goto("/recyclebin/")

    # Restore it: the bin is empty for them, the contact back in the list.
    row = _bin_row(page, "Jonas Weber")
    restore = row.locator("button[formaction$='/recyclebin/restore/']")
    assert restore.inner_text() == words["restore"]
    click_and_wait(page, restore)
    page.wait_for_url("**/recyclebin/")
    assert "Jonas Weber" in _messages(page)
    assert page.locator(f".messages a[href='/contacts/{contact.pk}/']").count() == 1
    assert page.locator(BIN_ROWS).count() == 0
    assert page.locator(".empty-state h2").inner_text() == words["bin_empty"]
    assert not BinEntry.objects.filter(pk=entry.pk).exists()
    assert BinEntry.objects.filter(pk=others_entry.pk).exists()  # someone else's stays

    _nav(page, language, "contacts")
    assert page.locator("main table tbody tr", has_text="Jonas Weber").count() == 1

    # The history, filtered to deletions (the bin's empty state links there).
    _nav(page, language, "bin")
    click_and_wait(page, "main .empty-state a[href*='event_type=delete']")
    page.wait_for_url("**/history/?event_type=delete")
    assert page.locator("main h1").inner_text() == words["history"]
    assert page.locator("input[name=event_type][value=delete]").is_checked()
    assert _chips(page) == [("event_type", f"{words['event']}: {words['delete_event']}")]
    rows = _history(page)
    assert {row["event"] for row in rows} == {"delete"}
    mine = [row for row in rows if row["title"] == "Jonas Weber"]
    assert len(mine) == 1
    assert mine[0]["user"] == employee.username
    assert mine[0]["event_label"] == words["delete_event"]
    assert assert_times_localized(page, HISTORY_ROWS, language, account.time_zone) == len(rows)


@pytest.fixture
def free_employee(db) -> User:
    free = account_create(
        name="Sparsam",
        plan="free",
        admin_username="sparsam-admin",
        admin_password=PASSWORD,
        check_password=False,
    )
    return _member(free, "sparsam-employee")


@pytest.mark.parametrize("language", LANGUAGES)
def test_on_the_free_plan_restoring_is_not_offered_and_the_page_says_why(
    tab, free_employee, language
):
    words, page = WORDS[language], tab.page
    account = free_employee.account
    company = _create(account, free_employee, "company", title="Kleinkram GmbH")

    login(page, free_employee, language=language)
    page.goto(f"/companies/{company.pk}/")
    click_and_wait(page, "main .page-head .actions a.btn--danger")
    confirm = page.locator("main .confirm")
    # The confirmation already says it: kept, but restoring needs a paid plan.
    assert tr(language, "Restoring it from there needs a paid plan.") in confirm.inner_text()
    assert confirm.locator("a[href='/pricing/']").count() == 1
    click_and_wait(page, confirm.locator("button[type=submit]"))
    entry = BinEntry.objects.get(account=account, entity_id=company.pk)

    _nav(page, language, "bin")
    assert _bin_titles(page) == ["Kleinkram GmbH"]
    assert page.locator("button[formaction$='/recyclebin/restore/']").count() == 0
    assert page.locator(BIN_ROWS).first.locator("button", has_text=words["restore"]).count() == 0
    callout = page.locator(".callout--plan")
    assert callout.locator("h2").inner_text() == words["paid_plan"]
    assert tr(language, "Basic") in callout.inner_text()  # the plans that include it are named

    # A restore posted by hand is refused too; the entry stays.
    post_unoffered(page, "/recyclebin/restore/", [("entry", str(entry.pk))])
    page.wait_for_url("**/recyclebin/")
    assert page.locator(".messages .message--error").count() == 1
    assert BinEntry.objects.filter(pk=entry.pk).exists()

    # The link goes to the pricing page, where the account's plan is marked.
    click_and_wait(page, page.locator(".callout--plan a[href='/pricing/']"))
    page.wait_for_url("**/pricing/")
    assert page.locator("main h1").inner_text() == words["pricing"]
    assert page.locator("th.is-current .badge").count() == 1


# --- 2. The admin: the help article's four steps -----------------------------------------


@pytest.fixture
def story(account, admin_user, employee, snapshots_cleaned):
    """Records made yesterday, last night's snapshot (three hours ago), then deletions by
    three people in the last two hours."""
    sales = _member(account, "acme-sales")
    schmidt = _create(account, admin_user, "company", title="Schmidt Logistik AG")
    becker = _create(account, admin_user, "company", title="Becker Bau KG")
    rollout = _create(account, admin_user, "deal", title="Rollout Berlin")
    messe = _create(account, admin_user, "lead", title="Messe Hamburg")
    jonas = _create(account, admin_user, "contact", first_name="Jonas", last_name="Weber")
    snapshot = snapshot_take(account=account, kind=Snapshot.Kind.NIGHTLY)
    assert snapshot.status == Snapshot.Status.SUCCEEDED
    now = timezone.now()
    Snapshot.objects.filter(pk=snapshot.pk).update(taken_at=now - timedelta(hours=3))
    deletions = [
        (messe, employee, 120),
        (jonas, employee, 100),
        (rollout, admin_user, 80),
        (schmidt, admin_user, 60),
        (becker, sales, 40),
    ]
    for record, actor, minutes in deletions:
        _delete(record, actor, at=now - timedelta(minutes=minutes))
    return {
        "sales": sales,
        "snapshot": snapshot,
        "deleted": [(str(record), actor.username) for record, actor, _ in deletions],
        "schmidt": schmidt,
        "becker": becker,
    }


@pytest.mark.parametrize("language", LANGUAGES)
def test_admin_follows_the_four_steps_bin_history_backups_request(
    tab, account, admin_user, story, language
):
    words, page = WORDS[language], tab.page
    sales, schmidt, becker = story["sales"], story["schmidt"], story["becker"]
    login(page, admin_user, language=language)

    # Step 1. The recycle bin: everyone's deletions.
    _nav(page, language, "bin")
    page.wait_for_url("**/recyclebin/")
    assert page.locator("main h1").inner_text() == words["bin"]
    assert sorted(_bin_titles(page)) == sorted(title for title, _ in story["deleted"])
    for title, username in story["deleted"]:
        assert username in _bin_row(page, title).inner_text()
    assert assert_times_localized(page, BIN_ROWS, language, account.time_zone) == 10
    shot(page, f"journey-{language}-bin.png")

    # Filter by type, then by who deleted it.
    page.select_option("#f-type", "company")
    _apply_filters(page)
    assert sorted(_bin_titles(page)) == ["Becker Bau KG", "Schmidt Logistik AG"]
    assert _chips(page) == [("entity_type", f"{words['type']}: {words['company']}")]
    page.select_option("#f-deleted-by", label=sales.username)
    _apply_filters(page)
    assert _bin_titles(page) == ["Becker Bau KG"]
    assert _chips(page) == [
        ("entity_type", f"{words['type']}: {words['company']}"),
        ("deleted_by", f"{words['deleted_by']}: {sales.username}"),
    ]

    # Restore it: the list keeps its filters and says nothing else matches.
    click_and_wait(
        page, _bin_row(page, "Becker Bau KG").locator("button", has_text=words["restore"])
    )
    assert "entity_type=company" in page.url and f"deleted_by={sales.pk}" in page.url
    assert "Becker Bau KG" in _messages(page)
    assert Company.objects.filter(pk=becker.pk, bin_entry__isnull=True).exists()
    assert page.locator(".empty-state h2").inner_text() == words["no_bin_match"]
    assert len(_chips(page)) == 2
    click_and_wait(page, page.locator(".activefilters__reset"))
    assert _chips(page) == []
    assert len(_bin_titles(page)) == 4

    # Purge another, after its confirmation page.
    click_and_wait(
        page, _bin_row(page, "Schmidt Logistik AG").locator("button", has_text=words["purge"])
    )
    confirm = page.locator("main .confirm")
    assert confirm.locator("h1").inner_text() == tr(
        language,
        "Delete %(counter)s entry permanently?",
        "Delete %(counter)s entries permanently?",
        1,
        counter=1,
    )
    assert "Schmidt Logistik AG" in confirm.locator(".consequences").inner_text()
    assert Company.objects.filter(pk=schmidt.pk).exists()  # nothing happened yet
    click_and_wait(page, confirm.locator("button", has_text=words["purge_confirm"]))
    page.wait_for_url("**/recyclebin/")
    assert tr(
        language,
        "%(count)s entry was deleted permanently.",
        "%(count)s entries were deleted permanently.",
        1,
        count=1,
    ) in _messages(page)
    assert "Schmidt Logistik AG" not in _bin_titles(page)
    assert not Company.objects.filter(pk=schmidt.pk).exists()

    # Step 2. CRM – History: Type = Delete, the other fields empty: who deleted what, when.
    _nav(page, language, "history")
    page.wait_for_url("**/history/")
    assert page.locator("main h1").inner_text() == words["history"]
    page.check("input[name=event_type][value=delete]")
    _apply_filters(page)
    page.wait_for_url("**/history/?*event_type=delete*")
    assert _chips(page) == [("event_type", f"{words['event']}: {words['delete_event']}")]
    for name in ("entity_type", "actor", "occurred_after", "occurred_before", "search"):
        assert page.locator(f"form.filterform [name={name}]").input_value() == ""
    rows = _history(page)
    assert sorted((row["title"], row["user"]) for row in rows) == sorted(story["deleted"])
    assert {row["event_label"] for row in rows} == {words["delete_event"]}
    assert assert_times_localized(page, HISTORY_ROWS, language, account.time_zone) == 5
    header = page.locator("table.history thead").inner_text()
    assert account.time_zone in header
    shot(page, f"journey-{language}-history.png")

    # Step 3. Gone for good (purged): the account's snapshots, and what a recover would bring.
    _nav(page, language, "backups")
    page.wait_for_url("**/backups/")
    assert page.locator("main h1").inner_text() == words["backups"]
    snapshot_row = page.locator(f"table.snapshots tr[data-snapshot='{story['snapshot'].pk}']")
    assert assert_times_localized(page, "table.snapshots tbody", language, account.time_zone) == 2
    click_and_wait(
        page, snapshot_row.locator(f"a[href*='/backups/{story['snapshot'].pk}/preview/']")
    )
    assert page.locator("main h1").inner_text() == words["preview_title"]
    page.check("#kind-recover")
    click_and_wait(page, "form.previewform button[type=submit]")
    assert "kind=recover" in page.url
    comes_back = page.locator("tr[data-entity-type=company] td[data-bucket=restored]")
    assert comes_back.locator("strong").inner_text() == "1"
    assert "Schmidt Logistik AG" in comes_back.inner_text()
    assert "Becker Bau KG" not in page.inner_text("table.previewtable")  # restored already
    # The deal, lead and contact still in the bin are not "gone": they come back from the bin,
    # so a recover counts only the purged company (backups.restore.preview).
    for entity_type in ("deal", "lead", "contact"):
        cell = page.locator(f"tr[data-entity-type={entity_type}] td[data-bucket=restored]")
        assert cell.inner_text() == "0"
    assert page.locator("table.previewtable tfoot td").first.inner_text() == "0"
    assert tr(
        language, "Recover only brings back what is gone: nothing is removed or reverted."
    ) in page.inner_text(".previewnote")
    shot(page, f"journey-{language}-backups-preview.png")

    # Step 4. The restore request: the form warns that a full restore is account-wide.
    _nav(page, language, "requests")
    page.wait_for_url("**/support/requests/")
    click_and_wait(page, page.locator("main a[href$='/support/requests/new/']").first)
    page.wait_for_url("**/support/requests/new/")
    warning = page.locator(".choice--danger .choice__warn")
    assert warning.is_visible()
    assert warning.inner_text() == tr(
        language,
        "This is account-wide: all work of all employees after the chosen time is lost, every "
        "record created, changed or deleted since, not only yours.",
    )
    lost_at = timezone.localtime(timezone.now() - timedelta(hours=1), ZoneInfo(account.time_zone))
    page.fill("#id_lost_at", lost_at.strftime("%Y-%m-%dT%H:%M"))
    page.check("#kind-recover")
    page.fill("#id_message", LOSS_REPORT[language])
    click_and_wait(page, "main form.requestform [type=submit]")
    restore_request = RestoreRequest.objects.get(account=account)
    assert page.url.endswith(f"/support/requests/{restore_request.pk}/"), page.inner_text("main")
    assert restore_request.status == RestoreRequest.Status.OPEN
    assert restore_request.kind == "recover"
    assert tr(
        language,
        "Your restore request #%(id)s was sent. Support answers here, in the chat.",
        id=restore_request.pk,
    ) in _messages(page)

    _nav(page, language, "requests")
    row = page.locator(f"table.requests tr[data-request='{restore_request.pk}']")
    assert row.locator(".status--open").inner_text() == words["open"]
    assert shown_time(language, lost_at, account.time_zone, "SHORT_DATETIME_FORMAT") in (
        row.inner_text()
    )
    assert assert_times_localized(page, "table.requests tbody", language, account.time_zone) == 3
    assert page.locator("main a[href$='/support/requests/new/']").count() == 0  # one at a time
    shot(page, f"journey-{language}-request.png")


# --- 3. The filters ------------------------------------------------------------------------


@pytest.fixture
def deletions(account, admin_user, employee):
    """Five entries: two people, three types, three days (ten and four days ago, and now)."""
    ten, four = _days_ago_at_noon(account, 10), _days_ago_at_noon(account, 4)
    plan = [
        ("lead", {"title": "Messe Hamburg"}, employee, ten),
        ("contact", {"first_name": "Jonas", "last_name": "Weber"}, employee, None),
        ("company", {"title": "Hamburg Hafen AG"}, admin_user, four),
        ("lead", {"title": "Webinar Berlin"}, admin_user, None),
        ("deal", {"title": "Rollout Hamburg"}, admin_user, four),
    ]
    for entity_type, data, actor, at in plan:
        _delete(_create(account, actor, entity_type, **data), actor, at=at)


@pytest.mark.parametrize("language", LANGUAGES)
def test_bin_filters_narrow_the_list_show_themselves_and_clear(
    tab, account, admin_user, employee, deletions, language
):
    words, page = WORDS[language], tab.page
    login(page, admin_user, language=language)
    _nav(page, language, "bin")
    everything = sorted(_bin_titles(page))
    assert len(everything) == 5
    unfiltered = tr(language, "No filters: every entry of the account.")
    assert page.inner_text(".activefilters") == unfiltered

    # Type.
    page.select_option("#f-type", "lead")
    _apply_filters(page)
    assert sorted(_bin_titles(page)) == ["Messe Hamburg", "Webinar Berlin"]
    assert _chips(page) == [("entity_type", f"{words['type']}: {words['lead']}")]
    assert page.inner_text(".activefilters__label") == words["filtered_by"]
    assert tr(
        language,
        "%(counter)s entry matches (of %(total)s)",
        "%(counter)s entries match (of %(total)s)",
        2,
        counter=2,
        total=5,
    ) in page.inner_text(".bulkbar__count")

    # Type and user; then the type's chip removed: the user's filter stays.
    page.select_option("#f-deleted-by", label=employee.username)
    _apply_filters(page)
    assert _bin_titles(page) == ["Messe Hamburg"]
    click_and_wait(page, page.locator(".chip[data-filter=entity_type] .chip__remove"))
    assert sorted(_bin_titles(page)) == ["Jonas Weber", "Messe Hamburg"]
    assert _chips(page) == [("deleted_by", f"{words['deleted_by']}: {employee.username}")]
    assert page.locator("#f-type").input_value() == ""
    assert page.locator("#f-deleted-by").input_value() == str(employee.pk)

    # Reset: everything, no chip.
    click_and_wait(page, page.locator(".activefilters__reset"))
    assert sorted(_bin_titles(page)) == everything
    assert _chips(page) == []

    # Title search: part of the title, any case.
    page.fill("#f-search", "hamburg")
    _apply_filters(page)
    assert sorted(_bin_titles(page)) == ["Hamburg Hafen AG", "Messe Hamburg", "Rollout Hamburg"]
    assert _chips(page) == [("search", f"{words['title']}: “hamburg”")]

    # Date range (the account's calendar days): only what was deleted four days ago.
    page.fill("#f-search", "")
    page.fill("#f-after", _local_day(account, 7))
    page.fill("#f-before", _local_day(account, 1))
    _apply_filters(page)
    assert sorted(_bin_titles(page)) == ["Hamburg Hafen AG", "Rollout Hamburg"]
    assert _chips(page) == [
        ("deleted_after", f"{tr(language, 'Deleted from')}: {_shown_day(account, 7, language)}"),
        ("deleted_before", f"{tr(language, 'Deleted before')}: {_shown_day(account, 1, language)}"),
    ]

    # Nothing matches: a clear empty state that points at the active filters.
    page.fill("#f-search", "Zeppelin")
    _apply_filters(page)
    assert page.locator(BIN_ROWS).count() == 0
    empty = page.locator(".empty-state")
    assert empty.locator("h2").inner_text() == words["no_bin_match"]
    assert (
        tr(
            language,
            "The recycle bin holds %(counter)s entry; remove a filter above, or reset them all.",
            "The recycle bin holds %(counter)s entries; remove a filter above, or reset them all.",
            5,
            counter=5,
        )
        in empty.inner_text()
    )
    assert len(_chips(page)) == 3
    click_and_wait(page, empty.get_by_role("link", name=words["reset"]))
    assert sorted(_bin_titles(page)) == everything
    assert page.inner_text(".activefilters") == unfiltered


@pytest.fixture
def events(account, admin_user, employee, deletions):
    """On top of the deletions: an update, a restore (admin, two days ago) and a purge."""
    firma = _create(account, employee, "company", title="Nord Firma GmbH")
    crm_services.record_update(record=firma, actor=employee, data={"industry": "Logistik"})
    webinar = BinEntry.objects.get(account=account, title="Webinar Berlin")
    with mock.patch("django.utils.timezone.now", return_value=_days_ago_at_noon(account, 2)):
        bin_services.bin_restore(account=account, entry_ids=[webinar.pk], actor=admin_user)
    rollout = BinEntry.objects.get(account=account, title="Rollout Hamburg")
    bin_services.bin_purge(account=account, entry_ids=[rollout.pk], actor=admin_user)


@pytest.mark.parametrize("language", LANGUAGES)
def test_history_filters_narrow_the_events_show_themselves_and_clear(
    tab, account, admin_user, employee, events, language
):
    words, page = WORDS[language], tab.page
    login(page, admin_user, language=language)
    _nav(page, language, "history")
    everything = _history(page)
    assert {row["event"] for row in everything} == {
        "create",
        "update",
        "delete",
        "restore",
        "purge",
    }
    assert page.inner_text(".activefilters") == tr(
        language, "No filters: every event of the account, newest first."
    )

    # Event chips: deletions and restores; then the deletions' chip removed.
    page.check("input[name=event_type][value=delete]")
    page.check("input[name=event_type][value=restore]")
    _apply_filters(page)
    rows = _history(page)
    assert {row["event"] for row in rows} == {"delete", "restore"}
    assert len(rows) == 6  # five deletions, one restore
    assert _chips(page) == [
        ("event_type", f"{words['event']}: {words['delete_event']}"),
        ("event_type", f"{words['event']}: {words['restore_event']}"),
    ]
    click_and_wait(page, page.locator(".chip[data-filter=event_type] .chip__remove").first)
    rows = _history(page)
    assert [(row["event"], row["title"], row["user"]) for row in rows] == [
        ("restore", "Webinar Berlin", admin_user.username)
    ]
    assert not page.locator("input[name=event_type][value=delete]").is_checked()
    assert page.locator("input[name=event_type][value=restore]").is_checked()
    click_and_wait(page, page.locator(".activefilters__reset"))
    assert len(_history(page)) == len(everything)

    # User.
    page.select_option("#f-actor", label=employee.username)
    _apply_filters(page)
    rows = _history(page)
    assert rows and {row["user"] for row in rows} == {employee.username}
    expected = [row for row in everything if row["user"] == employee.username]
    assert rows == expected
    assert _chips(page) == [("actor", f"{words['user']}: {employee.username}")]

    # Type (of record), with the user's filter still on: the employee's leads.
    page.select_option("#f-entity-type", "lead")
    _apply_filters(page)
    rows = _history(page)
    assert {(row["event"], row["title"]) for row in rows} == {
        ("create", "Messe Hamburg"),
        ("delete", "Messe Hamburg"),
    }
    assert {row["type"] for row in rows} == {words["lead"]}
    click_and_wait(page, page.locator(".activefilters__reset"))

    # Date range (the account's days): four and two days ago, nothing from today.
    page.fill("#f-after", _local_day(account, 5))
    page.fill("#f-before", _local_day(account, 1))
    _apply_filters(page)
    rows = _history(page)
    assert sorted((row["event"], row["title"]) for row in rows) == [
        ("delete", "Hamburg Hafen AG"),
        ("delete", "Rollout Hamburg"),
        ("restore", "Webinar Berlin"),
    ]
    assert [name for name, _ in _chips(page)] == ["occurred_after", "occurred_before"]
    assert assert_times_localized(page, HISTORY_ROWS, language, account.time_zone) == 3

    # Nothing matches (the employee never purged): the empty state names the way out.
    click_and_wait(page, page.locator(".activefilters__reset"))
    page.check("input[name=event_type][value=purge]")
    page.select_option("#f-actor", label=employee.username)
    _apply_filters(page)
    assert page.locator(HISTORY_ROWS).count() == 0
    empty = page.locator(".empty-state")
    assert empty.locator("h2").inner_text() == words["no_event_match"]
    assert tr(language, "Remove a filter above, or reset them all.") in empty.inner_text()
    assert len(_chips(page)) == 2
    click_and_wait(page, page.locator(".chip[data-filter=actor] .chip__remove"))
    assert [(row["event"], row["user"]) for row in _history(page)] == [
        ("purge", admin_user.username)
    ]
    click_and_wait(page, page.locator(".activefilters__reset"))
    assert len(_history(page)) == len(everything)


# --- German throughout ----------------------------------------------------------------------

# Words that are the same in both languages (loanwords, names, codes).
SAME_IN_BOTH = {
    word.casefold()
    for word in (
        "CRM",
        "Dashboard",
        "Deal",
        "Deals",
        "ID",
        "Lead",
        "Leads",
        "Position",
        "Status",
        "Text",
    )
}
# The labels of a page: navigation, headings, form labels, column heads, buttons (and links
# styled as buttons), filter choices, type names.
LABEL_SELECTORS = (
    "nav.mainnav a",
    "main h1",
    "main h2",
    "main label:not(.rowtitle)",
    "main legend",
    "main th",
    "main button",
    "main a.btn",
    "main .checkpill",
    "main #f-type option",
    "main #f-entity-type option",
)
LABEL_PAGES = {
    "bin": "/recyclebin/",
    "history": "/history/?event_type=delete",
    "backups": "/backups/",
    "preview": "/backups/{snapshot}/preview/?kind=recover",
    "request": "/support/requests/new/",
}


def _labels(page) -> dict[str, list[str]]:
    return {
        selector: [" ".join(text.split()) for text in page.locator(selector).all_inner_texts()]
        for selector in LABEL_SELECTORS
    }


def _still_english(page, path: str) -> list[tuple[str, str]]:
    """The page's labels that read the same after switching from English to German."""
    page.goto(path)
    switch_language(page, "en")
    english = _labels(page)
    switch_language(page, "de")
    german = _labels(page)
    left = []
    for selector, texts in english.items():
        assert len(german[selector]) == len(texts), (selector, texts, german[selector])
        for en, de in zip(texts, german[selector], strict=True):
            if en == de and en.casefold() not in SAME_IN_BOTH and any(c.isalpha() for c in en):
                left.append((selector, en))
    return left


@pytest.mark.parametrize(
    "name",
    [
        "bin",
        "history",
        "backups",
        "preview",
        "request",
    ],
)
def test_german_pages_leave_no_label_in_english(tab, admin_user, story, name):
    page = tab.page
    login(page, admin_user, language="en")
    path = LABEL_PAGES[name].format(snapshot=story["snapshot"].pk)
    left = _still_english(page, path)
    assert left == [], f"English on the German page {path}: {left}"
