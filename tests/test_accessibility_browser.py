"""Accessibility, checked by axe-core in the browser (issue 18, item 12): every page an admin,
an employee and support staff use, in English and German, at desktop and phone width: no
serious or critical violation (every input labelled, contrast, names of buttons and links...).
And the bin's and the history's actions can be reached with the keyboard alone.

axe-core is vendored (tests/vendor/axe-core); it is injected into each page, so these contexts
bypass the Content-Security-Policy (the other browser tests keep it)."""

from pathlib import Path

import pytest
from django.utils import timezone

from backups.models import Snapshot
from backups.services import snapshot_take
from crm.tests.factories import CompanyFactory, ContactFactory, DealFactory
from recyclebin import services as bin_services
from support import services
from tests.browser import TIMEOUT_MS, WIDTHS, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


@pytest.fixture
def data(account, admin_user, employee, support_user, snapshot_dir):
    company = CompanyFactory(account=account, title="Müller Maschinenbau GmbH")
    ContactFactory(account=account, first_name="Anna", last_name="Müller", company=company)
    deal = DealFactory(account=account, title="Wartungsvertrag", company=company)
    snapshot = snapshot_take(account=account, kind=Snapshot.Kind.MANUAL)
    assert snapshot.status == Snapshot.Status.SUCCEEDED
    for n in range(2):
        gone = CompanyFactory(account=account, title=f"Gelöscht {n}")
        bin_services.bin_delete(record=gone, actor=employee if n else admin_user)
    request = services.request_file(
        user=admin_user, lost_at=timezone.now(), kind="recover", message="Zwei fehlen."
    )
    services.message_post(request=request, user=support_user, body="Wir schauen nach.")
    services.request_propose(request=request, user=support_user, snapshot=snapshot)
    return {"company": company, "deal": deal, "snapshot": snapshot, "request": request}


def _pages(role: str, data) -> list[str]:
    if role == "support":
        return ["/console/", f"/console/requests/{data['request'].pk}/", "/notifications/"]
    common = [
        "/crm/",
        "/companies/",
        f"/companies/{data['company'].pk}/",
        "/companies/new/",
        f"/deals/{data['deal'].pk}/edit/",
        f"/deals/{data['deal'].pk}/delete/",
        "/recyclebin/",
        "/history/",
        "/history/?event_type=delete",
        "/notifications/",
        "/security/",
        "/pricing/",
    ]
    if role == "employee":
        return common
    return [
        *common,
        "/backups/",
        f"/backups/{data['snapshot'].pk}/preview/",
        "/support/requests/",
        "/support/requests/new/",
        f"/support/requests/{data['request'].pk}/",
        "/alerts/",
    ]


def _violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
            }));
        }"""
    )
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at {v['nodes']}"
        for v in found
        if v["impact"] in BLOCKING
    ]


def _context(browser, live_server, language: str, width: str):
    context = browser.new_context(
        base_url=live_server.url,
        locale="de-DE" if language == "de" else "en-US",
        viewport=WIDTHS[width],
        bypass_csp=True,  # to inject axe-core
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.mark.parametrize(
    "role, language, width",
    [
        (role, language, width)
        for role in ("admin", "employee", "support")
        for language in ("en", "de")
        for width in WIDTHS
        # Support's three pages: both languages on the desktop, English on the phone.
        if not (role == "support" and language == "de" and width == "phone")
    ],
)
def test_no_serious_or_critical_violation(
    browser, live_server, data, admin_user, employee, support_user, role, language, width
):
    user = {"admin": admin_user, "employee": employee, "support": support_user}[role]
    context = _context(browser, live_server, language, width)
    try:
        page = context.new_page()
        login(page, user, language=language)
        problems = []
        for path in _pages(role, data):
            response = page.goto(path)
            assert response.status == 200, path
            problems += [f"{path}: {problem}" for problem in _violations(page)]
        assert problems == [], "\n".join(problems)
    finally:
        context.close()


def test_the_bin_and_history_actions_are_reached_by_keyboard(
    browser, live_server, data, admin_user
):
    context = _context(browser, live_server, "en", "desktop")
    try:
        page = context.new_page()
        login(page, admin_user)
        for path, target in (
            ("/recyclebin/", "button[formaction$='/recyclebin/restore/'][name=entry]"),
            ("/history/", "a[href^='/history/revert/?events=']"),
        ):
            page.goto(path)
            wanted = page.locator(target).first
            for _press in range(150):
                page.keyboard.press("Tab")
                if wanted.evaluate("element => element === document.activeElement"):
                    break
            else:
                pytest.fail(f"{path}: {target} is never reached with Tab")
        # And Enter on the bin's Restore restores.
        page.goto("/recyclebin/")
        restore = page.locator("button[formaction$='/recyclebin/restore/'][name=entry]").first
        restore.focus()
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "was restored" in page.inner_text(".messages")
    finally:
        context.close()
