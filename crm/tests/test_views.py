"""The CRM's browser pages: lists, detail, create, edit, delete, and who may see what."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from conftest import login_client
from crm import forms as crm_forms
from crm import services
from crm.entities import ENTITIES
from crm.models import Activity, Company, Contact, Deal, Lead
from recyclebin.models import BinEntry

ENTITY_TYPES = tuple(ENTITIES)
MODELS = {"company": Company, "contact": Contact, "lead": Lead, "deal": Deal, "activity": Activity}


def make(entity_type: str, *, account, actor=None, **data):
    return services.record_create(
        account=account, actor=actor, entity=ENTITIES[entity_type], data=data
    )


def make_any(entity_type: str, *, account, title: str = "Sample"):
    """A valid record of any type (an activity hangs on a new company)."""
    if entity_type == "company":
        return make("company", account=account, title=title)
    if entity_type == "contact":
        return make("contact", account=account, first_name=title)
    if entity_type == "activity":
        company = make("company", account=account, title=f"{title} parent")
        return make("activity", account=account, subject=title, type="call", company=company)
    return make(entity_type, account=account, title=title)


def url(name: str, *args) -> str:
    return reverse(f"crm:{name}", args=args)


def rows(entity_type: str) -> list[tuple]:
    """Every row of the type, all accounts, as stored: to show nothing changed."""
    model = MODELS[entity_type]
    return list(model.objects.order_by("pk").values_list())


def form_errors(response) -> str:
    form = response.context["form"]
    return " ".join(str(message) for messages in form.errors.values() for message in messages)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


# --- Who may open the pages --------------------------------------------------------------


PAGE_NAMES = [
    ("dashboard", False),
    *[(f"{t}_list", False) for t in ENTITY_TYPES],
    *[(f"{t}_create", False) for t in ENTITY_TYPES],
    *[(f"{t}_{action}", True) for t in ENTITY_TYPES for action in ("detail", "edit", "delete")],
]


@pytest.mark.parametrize(("name", "needs_record"), PAGE_NAMES)
def test_anonymous_is_sent_to_login(client, account, name, needs_record):
    args = [make_any(name.split("_")[0], account=account).pk] if needs_record else []
    response = client.get(url(name, *args))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(("name", "needs_record"), PAGE_NAMES)
def test_support_staff_cannot_open_crm_pages(client, account, support_user, name, needs_record):
    args = [make_any(name.split("_")[0], account=account).pk] if needs_record else []
    login_client(support_user, client=client)  # with the second factor: still refused
    response = client.get(url(name, *args))
    assert response.status_code == 403


def test_support_staff_cannot_create_records(client, account, support_user):
    login_client(support_user, client=client)
    response = client.post(url("company_create"), {"title": "Sneaky"})
    assert response.status_code == 403
    assert not Company.objects.exists()


def test_employee_works_in_the_crm(client, employee):
    client.force_login(employee)
    response = client.post(url("company_create"), {"title": "Employee Ltd"})
    company = Company.objects.get(title="Employee Ltd")
    assert response.status_code == 302
    assert company.created_by == employee


def test_home_sends_members_to_the_dashboard(admin_client):
    response = admin_client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == url("dashboard")


def test_pricing_page_is_public_and_lists_all_plans(client, db):
    response = client.get(reverse("pricing"))
    assert response.status_code == 200
    content = response.content.decode()
    for plan in ("Free", "Basic", "Standard", "Professional"):
        assert plan in content
    assert "Restore deleted items from the recycle bin" in content
    assert "€139 / month" in content


def test_login_page_renders(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content


def test_base_page_shows_account_plan_user_and_logout_form(admin_client, admin_user):
    content = admin_client.get(url("dashboard")).content.decode()
    assert "Acme" in content
    assert "Professional" in content
    assert admin_user.username in content
    assert f'action="{reverse("logout")}" method="post"' in content
    assert f'action="{reverse("set_language")}" method="post"' in content


def test_language_switch_to_german(admin_client):
    response = admin_client.post(
        reverse("set_language"), {"language": "de", "next": url("company_list")}
    )
    assert response.status_code == 302
    page = admin_client.get(url("company_list"))
    assert '<html lang="de">' in page.content.decode()


# --- Dashboard ----------------------------------------------------------------------------


def test_dashboard_counts_only_the_own_account(admin_client, account, other_account):
    make("company", account=account, title="Mine")
    make("deal", account=account, title="My deal")
    make("deal", account=other_account, title="Their deal")
    response = admin_client.get(url("dashboard"))
    counts = {entity.type.value: count for entity, count in response.context["counts"]}
    assert counts == {"company": 1, "contact": 0, "lead": 0, "deal": 1, "activity": 0}
    assert "My deal" in response.content.decode()
    assert "Their deal" not in response.content.decode()


# --- Lists --------------------------------------------------------------------------------


def test_list_shows_own_records_newest_first(admin_client, account, other_account):
    make("company", account=account, title="Older")
    make("company", account=account, title="Newer")
    make("company", account=other_account, title="Foreign")
    response = admin_client.get(url("company_list"))
    titles = [c.title for c in response.context["page"].object_list]
    assert titles == ["Newer", "Older"]
    assert "Foreign" not in response.content.decode()


def test_list_search_every_word_must_match_a_field(admin_client, account):
    make("contact", account=account, first_name="Ann", last_name="Miller", email="a@x.example")
    make("contact", account=account, first_name="Ann", last_name="Baker")
    make("contact", account=account, first_name="Bob", last_name="Miller")
    response = admin_client.get(url("contact_list"), {"q": "ann MILL"})
    assert [c.last_name for c in response.context["page"].object_list] == ["Miller"]
    assert response.context["page"].object_list[0].first_name == "Ann"


def test_list_search_without_results_says_so(admin_client, account):
    make("company", account=account, title="Initech")
    response = admin_client.get(url("company_list"), {"q": "nothing-like-this"})
    content = response.content.decode()
    assert "No companies match." in content
    assert "No companies yet" not in content


def test_list_empty_state_offers_to_create(admin_client):
    content = admin_client.get(url("company_list")).content.decode()
    assert "No companies yet." in content
    assert url("company_create") in content


def test_list_sorts_by_allowed_fields_and_toggles(admin_client, account):
    for title in ("Bravo", "Alpha", "Charlie"):
        make("company", account=account, title=title)
    ascending = admin_client.get(url("company_list"), {"sort": "title"})
    assert [c.title for c in ascending.context["page"].object_list] == ["Alpha", "Bravo", "Charlie"]
    title_column = next(c for c in ascending.context["columns"] if c["name"] == "title")
    assert title_column["direction"] == "asc"
    assert title_column["next_sort"] == "-title"
    assert "sort=-title" in ascending.content.decode()

    descending = admin_client.get(url("company_list"), {"sort": "-title"})
    assert [c.title for c in descending.context["page"].object_list] == [
        "Charlie",
        "Bravo",
        "Alpha",
    ]


def test_list_ignores_unknown_sort_fields(admin_client, account):
    make("company", account=account, title="A")
    make("company", account=account, title="B")
    response = admin_client.get(url("company_list"), {"sort": "account__name"})
    assert response.status_code == 200
    assert response.context["sort"] == "-id"
    assert [c.title for c in response.context["page"].object_list] == ["B", "A"]


def test_list_paginates_with_per_page(admin_client, account):
    for n in range(30):
        make("lead", account=account, title=f"Lead {n:02d}")
    first = admin_client.get(url("lead_list"))
    assert len(first.context["page"].object_list) == 25
    assert first.context["page"].paginator.count == 30
    assert "30 records" in first.content.decode()

    second = admin_client.get(url("lead_list"), {"page": 2})
    assert [lead.title for lead in second.context["page"].object_list] == [
        f"Lead {n:02d}" for n in range(4, -1, -1)
    ]

    fifty = admin_client.get(url("lead_list"), {"per_page": 50})
    assert len(fifty.context["page"].object_list) == 30

    odd = admin_client.get(url("lead_list"), {"per_page": 7, "page": "junk"})
    assert odd.context["per_page"] == 25
    assert odd.context["page"].number == 1


def test_list_shows_choice_labels_and_links(admin_client, account):
    company = make("company", account=account, title="Initech")
    make("deal", account=account, title="Licence", stage="proposal", company=company)
    content = admin_client.get(url("deal_list")).content.decode()
    assert "Proposal sent" in content
    assert f'href="{url("company_detail", company.pk)}"' in content


def test_list_filters_by_link(admin_client, account, other_account):
    initech = make("company", account=account, title="Initech")
    make("contact", account=account, first_name="Peter", company=initech)
    make("contact", account=account, first_name="Samir")
    response = admin_client.get(url("contact_list"), {"company": initech.pk})
    assert [c.first_name for c in response.context["page"].object_list] == ["Peter"]

    foreign = make("company", account=other_account, title="Globex Corp")
    make("contact", account=other_account, first_name="Hank", company=foreign)
    response = admin_client.get(url("contact_list"), {"company": foreign.pk})
    assert list(response.context["page"].object_list) == []
    assert "Globex Corp" not in response.content.decode()


def test_list_selects_links_in_one_query(admin_client, account, django_assert_max_num_queries):
    for n in range(10):
        company = make("company", account=account, title=f"C{n}")
        make("contact", account=account, first_name=f"P{n}", company=company)
    # session, user, account, count, page; never one per row
    with django_assert_max_num_queries(8):
        response = admin_client.get(url("contact_list"))
    assert response.status_code == 200


# --- Detail -------------------------------------------------------------------------------


def test_company_detail_lists_linked_records(admin_client, account):
    company = make("company", account=account, title="Initech", industry="Software")
    make("contact", account=account, first_name="Peter", company=company)
    make("deal", account=account, title="Licence", company=company)
    make("activity", account=account, subject="Kick-off", type="meeting", company=company)
    response = admin_client.get(url("company_detail", company.pk))
    content = response.content.decode()
    for text in ("Initech", "Software", "Peter", "Licence", "Kick-off"):
        assert text in content
    sections = {
        section["entity"].type.value: section["count"] for section in response.context["linked"]
    }
    assert sections == {"contact": 1, "deal": 1, "activity": 1}
    assert f"{url('activity_create')}?company={company.pk}" in content
    assert url("company_edit", company.pk) in content
    assert url("company_delete", company.pk) in content


def test_activity_detail_links_its_parent(admin_client, account):
    lead = make("lead", account=account, title="Relaunch")
    activity = make("activity", account=account, subject="Call back", type="call", lead=lead)
    content = admin_client.get(url("activity_detail", activity.pk)).content.decode()
    assert f'href="{url("lead_detail", lead.pk)}"' in content
    assert "Call back" in content


def test_missing_record_answers_404(admin_client, db):
    assert admin_client.get(url("company_detail", 999999)).status_code == 404


# --- Create and edit ----------------------------------------------------------------------


def test_create_company(admin_client, admin_user, account):
    response = admin_client.post(
        url("company_create"),
        {
            "title": "Initech",
            "email": "office@initech.example",
            "website": "https://initech.example",
        },
    )
    company = Company.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("company_detail", company.pk)
    assert company.account == account
    assert company.created_by == admin_user
    assert company.email == "office@initech.example"
    page = admin_client.get(response["Location"])
    assert "was created" in page.content.decode()


def test_create_deal_with_links_date_and_amount(admin_client, account):
    company = make("company", account=account, title="Initech")
    contact = make("contact", account=account, first_name="Peter", company=company)
    response = admin_client.post(
        url("deal_create"),
        {
            "title": "Licence",
            "stage": "negotiation",
            "amount": "1234.50",
            "currency": "USD",
            "company": company.pk,
            "contact": contact.pk,
            "close_date": "2030-06-30",
        },
    )
    assert response.status_code == 302
    deal = Deal.objects.get()
    assert (deal.company, deal.contact, deal.amount) == (company, contact, Decimal("1234.50"))
    assert deal.close_date == date(2030, 6, 30)


def test_create_form_shows_field_errors(admin_client):
    response = admin_client.post(url("deal_create"), {"title": "", "currency": "euro"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "title" in errors
    assert "currency" in errors
    assert not Deal.objects.exists()


def test_create_activity_needs_exactly_one_parent(admin_client, account):
    company = make("company", account=account, title="Initech")
    lead = make("lead", account=account, title="Relaunch")
    two = admin_client.post(
        url("activity_create"),
        {"subject": "Call", "type": "call", "company": company.pk, "lead": lead.pk},
    )
    none = admin_client.post(url("activity_create"), {"subject": "Call", "type": "call"})
    for response in (two, none):
        assert response.status_code == 200
        assert "exactly one lead, deal, contact or company" in form_errors(response)
    assert not Activity.objects.exists()

    one = admin_client.post(
        url("activity_create"),
        {"subject": "Call", "type": "call", "lead": lead.pk, "due_at": "2030-01-02T09:30"},
    )
    assert one.status_code == 302
    activity = Activity.objects.get()
    assert activity.lead == lead
    assert activity.due_at is not None


def test_times_are_entered_and_shown_in_the_accounts_time_zone(admin_client, account):
    company = make("company", account=account, title="Initech")
    admin_client.post(
        url("activity_create"),
        {"subject": "Call", "type": "call", "company": company.pk, "due_at": "2030-01-02T09:30"},
    )
    activity = Activity.objects.get()
    assert activity.due_at.isoformat() == "2030-01-02T08:30:00+00:00"  # Berlin is UTC+1
    form_page = admin_client.get(url("activity_edit", activity.pk))
    assert 'value="2030-01-02T09:30"' in form_page.content.decode()


def test_add_activity_prefills_the_parent(admin_client, account):
    company = make("company", account=account, title="Initech")
    response = admin_client.get(url("activity_create"), {"company": company.pk})
    assert response.context["form"]["company"].value() == str(company.pk)
    assert f'<option value="{company.pk}" selected>Initech</option>' in response.content.decode()


def test_edit_changes_the_record(admin_client, account):
    lead = make("lead", account=account, title="Relaunch", status="new")
    form_page = admin_client.get(url("lead_edit", lead.pk))
    assert form_page.context["form"]["title"].value() == "Relaunch"
    response = admin_client.post(
        url("lead_edit", lead.pk), {"title": "Relaunch 2.0", "status": "qualified"}
    )
    assert response.status_code == 302
    assert response["Location"] == url("lead_detail", lead.pk)
    lead.refresh_from_db()
    assert (lead.title, lead.status) == ("Relaunch 2.0", "qualified")
    assert "were saved" in admin_client.get(response["Location"]).content.decode()


def test_edit_without_changes_says_so(admin_client, account):
    company = make("company", account=account, title="Initech")
    response = admin_client.post(url("company_edit", company.pk), {"title": "Initech"}, follow=True)
    assert "Nothing was changed." in response.content.decode()


def test_a_validation_error_from_the_service_is_shown_on_the_form(admin_client, monkeypatch):
    def refuse(**kwargs):
        raise ValidationError({"title": "Taken by a race.", "account": "Not yours."})

    monkeypatch.setattr(services, "record_create", refuse)
    response = admin_client.post(url("company_create"), {"title": "Initech"})
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["title"] == ["Taken by a race."]
    assert form.non_field_errors() == ["Not yours."]
    assert not Company.objects.exists()


def test_writes_during_maintenance_show_the_rule_page(admin_client, account):
    account.maintenance = True
    account.save()
    response = admin_client.post(url("company_create"), {"title": "Initech"})
    assert response.status_code == 503
    assert response["Retry-After"]
    assert "maintenance" in response.content.decode()
    assert not Company.objects.exists()


# --- Link pickers -------------------------------------------------------------------------


def test_pickers_offer_only_the_own_accounts_records(admin_client, account, other_account):
    mine = make("company", account=account, title="Mine Inc")
    theirs = make("company", account=other_account, title="Theirs Inc")
    response = admin_client.get(url("contact_create"))
    choices = [str(value) for value, _ in response.context["form"].fields["company"].choices]
    assert choices == ["", str(mine.pk)]
    assert "Theirs Inc" not in response.content.decode()
    assert str(theirs.pk) not in choices

    prefilled = admin_client.get(url("activity_create"), {"company": theirs.pk})
    assert "Theirs Inc" not in prefilled.content.decode()


@pytest.mark.parametrize(
    ("entity_type", "data", "link"),
    [
        ("contact", {"first_name": "Peter"}, "company"),
        ("deal", {"title": "Licence"}, "company"),
        ("activity", {"subject": "Call", "type": "call"}, "company"),
    ],
)
def test_posting_another_accounts_record_is_refused(
    admin_client, other_account, entity_type, data, link
):
    theirs = make("company", account=other_account, title="Theirs Inc")
    response = admin_client.post(url(f"{entity_type}_create"), {**data, link: theirs.pk})
    assert response.status_code == 200
    assert link in response.context["form"].errors
    assert not MODELS[entity_type].objects.exists()


def test_editing_a_link_to_another_accounts_record_is_refused(admin_client, account, other_account):
    mine = make("company", account=account, title="Mine Inc")
    contact = make("contact", account=account, first_name="Peter", company=mine)
    theirs = make("company", account=other_account, title="Theirs Inc")
    response = admin_client.post(
        url("contact_edit", contact.pk), {"first_name": "Peter", "company": theirs.pk}
    )
    assert response.status_code == 200
    assert "company" in response.context["form"].errors
    contact.refresh_from_db()
    assert contact.company == mine


def test_pickers_render_the_newest_but_accept_any_of_the_account(
    admin_client, account, monkeypatch
):
    monkeypatch.setattr(crm_forms, "PICKER_LIMIT", 3)
    oldest = make("company", account=account, title="Oldest")
    for n in range(5):
        make("company", account=account, title=f"Newer {n}")
    response = admin_client.get(url("contact_create"))
    field = response.context["form"].fields["company"]
    assert [str(r) for r in field.shown_records()] == ["Newer 2", "Newer 3", "Newer 4"]
    assert "Shows the 3 newest" in response.content.decode()

    prefilled = admin_client.get(url("contact_create"), {"company": oldest.pk})
    shown = prefilled.context["form"].fields["company"].shown_records()
    assert oldest in shown

    created = admin_client.post(
        url("contact_create"), {"first_name": "Peter", "company": oldest.pk}
    )
    assert created.status_code == 302
    assert Contact.objects.get().company == oldest


@pytest.mark.parametrize("value", ["junk", "-1", "99999999999999999999999"])
def test_pickers_survive_odd_values(admin_client, account, value):
    page = admin_client.get(url("contact_create"), {"company": value})
    assert page.status_code == 200
    response = admin_client.post(url("contact_create"), {"first_name": "P", "company": value})
    assert response.status_code == 200
    assert "company" in response.context["form"].errors
    assert not Contact.objects.exists()


# --- Delete -------------------------------------------------------------------------------


def test_delete_asks_first_then_moves_to_the_bin(admin_client, account):
    company = make("company", account=account, title="Initech")
    contact = make("contact", account=account, first_name="Peter", company=company)
    activity = make("activity", account=account, subject="Kick-off", type="call", company=company)

    confirm = admin_client.get(url("company_delete", company.pk))
    content = confirm.content.decode()
    assert confirm.status_code == 200
    assert "Move the company “Initech” to the recycle bin?" in content
    assert "kept in the recycle bin for 30 days" in content
    assert "1 activity goes into the recycle bin with it." in content
    assert "1 linked contact stays, but loses its link to it until it is restored." in content
    assert Company.objects.for_account(account).filter(pk=company.pk).exists()
    assert not BinEntry.objects.exists()

    response = admin_client.post(url("company_delete", company.pk))
    assert response.status_code == 302
    assert response["Location"] == url("company_list")
    message = admin_client.get(response["Location"]).content.decode()
    assert "was moved to the" in message and "with its 1 activity" in message
    assert "kept there for 30 days" in message
    assert "lose their link to it until it is restored" in message
    assert f'href="{reverse("recyclebin:list")}"' in message
    # Gone from lists and detail pages, with its activity ...
    assert not Company.objects.for_account(account).filter(pk=company.pk).exists()
    assert not Activity.objects.for_account(account).exists()
    assert admin_client.get(url("company_detail", company.pk)).status_code == 404
    assert admin_client.get(url("activity_detail", activity.pk)).status_code == 404
    assert "Initech" not in admin_client.get(url("company_list")).content.decode()
    # ... and sitting in the bin as one entry, the rows kept with their ids.
    entry = BinEntry.objects.get()
    assert (entry.entity_type, entry.entity_id, entry.item_count) == ("company", company.pk, 2)
    assert Company.objects.get(pk=company.pk).bin_entry == entry
    assert Activity.objects.get(pk=activity.pk).bin_entry == entry
    # The contact stays, its link hidden until the company comes back.
    contact.refresh_from_db()
    assert contact.bin_entry is None and contact.company is None


def test_delete_confirmation_on_a_free_plan_says_restoring_needs_a_paid_plan(admin_client, account):
    account.plan = "free"
    account.save()
    lead = make("lead", account=account, title="Relaunch")
    content = admin_client.get(url("lead_delete", lead.pk)).content.decode()
    assert "Restoring it from there needs a paid plan." in content
    assert reverse("pricing") in content
    assert "Nothing else is linked to it; only this record goes into the recycle bin." in content


# --- Another account's records ------------------------------------------------------------


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
@pytest.mark.parametrize("action", ["detail", "edit", "delete"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_another_accounts_record_answers_404_and_stays_unchanged(
    client, account, other_admin, entity_type, action, method
):
    record = make_any(entity_type, account=account, title="Secret")
    before = rows(entity_type)
    client.force_login(other_admin)
    send = getattr(client, method)
    response = send(url(f"{entity_type}_{action}", record.pk), {"title": "Hijacked"})
    assert response.status_code == 404
    assert b"Secret" not in response.content
    assert rows(entity_type) == before


# --- A link to a record in the recycle bin (issue 18: no dead ends) ----------------------------


def test_a_record_in_the_bin_says_so_with_who_and_a_way_back(
    client, account, admin_user, employee, other_admin
):
    from recyclebin import services as bin_services

    company = make("company", account=account, actor=admin_user, title="Initech")
    activity = make(
        "activity", account=account, actor=admin_user, subject="Call", type="call", company=company
    )
    bin_services.bin_delete(record=company, actor=admin_user)
    entry = BinEntry.objects.get()

    admin = login_client(admin_user)
    page = admin.get(url("activity_detail", activity.pk))
    assert page.status_code == 404  # not there, but the page says where it is
    content = page.content.decode()
    assert "This activity is in the recycle bin" in content
    assert f"Deleted by {admin_user.username} on" in content
    assert "together with “Initech”" in content
    assert f"{reverse('recyclebin:list')}?id={entry.pk}" in content
    # Restore brings it back and returns to its page.
    restored = admin.post(
        reverse("recyclebin:restore"),
        {"entry": entry.pk, "next": url("activity_detail", activity.pk)},
    )
    assert restored["Location"] == url("activity_detail", activity.pk)
    assert admin.get(restored["Location"]).status_code == 200

    # An employee who did not delete it reads where it is, without a Restore they may not do.
    bin_services.bin_delete(record=Company.objects.get(pk=company.pk), actor=admin_user)
    page = login_client(employee).get(url("company_detail", company.pk))
    content = page.content.decode()
    assert page.status_code == 404 and "This company is in the recycle bin" in content
    assert 'name="entry"' not in content and "Only an admin of your account" in content
    # Another account's admin learns nothing.
    client.force_login(other_admin)
    other = client.get(url("company_detail", company.pk))
    assert other.status_code == 404 and b"Initech" not in other.content
    # A restore that goes elsewhere than this site is not followed.
    entry = BinEntry.objects.get()
    away = admin.post(
        reverse("recyclebin:restore"), {"entry": entry.pk, "next": "https://evil.example/"}
    )
    assert away["Location"].startswith(reverse("recyclebin:list"))


def test_the_message_after_a_delete_offers_undo(admin_client, account, admin_user):
    """Issue 18: no "Undo" in the message after a delete."""
    company = make("company", account=account, actor=admin_user, title="Initech")
    response = admin_client.post(url("company_delete", company.pk), follow=True)
    content = response.content.decode()
    assert 'class="message__undo"' in content and ">Undo</button>" in content
    entry = BinEntry.objects.get()
    undone = admin_client.post(
        reverse("recyclebin:restore"), {"entry": entry.pk, "next": url("company_list")}
    )
    assert undone["Location"] == url("company_list")
    assert Company.objects.for_account(account).filter(pk=company.pk).exists()


def test_no_undo_is_promised_on_a_plan_without_restores(admin_client, account, admin_user):
    account.plan = "free"
    account.save()
    lead = make("lead", account=account, actor=admin_user, title="Relaunch")
    response = admin_client.post(url("lead_delete", lead.pk), follow=True)
    assert "message__undo" not in response.content.decode()
