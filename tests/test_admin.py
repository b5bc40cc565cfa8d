"""Operators' Django admin: every model is there, and CRM writes go through crm.services."""

import pytest
from django.contrib import admin
from django.urls import reverse

from accounts.models import User
from crm.entities import ENTITIES
from crm.models import Activity, Company, Contact
from crm.tests.factories import ActivityFactory, CompanyFactory, ContactFactory
from recyclebin.models import BinEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db):
    return User.objects.create_superuser("operator", "op@example.com", "op-password-123")


@pytest.fixture
def op_client(client, operator):
    client.force_login(operator)
    return client


@pytest.mark.parametrize(
    "model",
    ["accounts.Account", "accounts.User"]
    + [f"crm.{entity.model.__name__}" for entity in ENTITIES.values()],
)
def test_every_model_has_an_admin_page(op_client, model):
    app_label, name = model.split(".")
    assert any(m._meta.app_label == app_label and m.__name__ == name for m in admin.site._registry)
    response = op_client.get(reverse(f"admin:{app_label}_{name.lower()}_changelist"))
    assert response.status_code == 200


def test_admin_create_goes_through_the_service(op_client, operator, account):
    response = op_client.post(
        reverse("admin:crm_company_add"),
        {
            "account": account.pk,
            "title": "Admin Made GmbH",
            "industry": "",
            "phone": "",
            "email": "",
            "website": "",
            "address": "",
            "comments": "",
        },
    )
    assert response.status_code == 302, response.content
    company = Company.objects.get(title="Admin Made GmbH")
    assert company.account == account
    assert company.created_by == operator


def test_admin_refuses_a_link_to_another_account(op_client, account, other_account):
    foreign = CompanyFactory(account=other_account)
    response = op_client.post(
        reverse("admin:crm_contact_add"),
        {"account": account.pk, "first_name": "Cross", "company": foreign.pk},
    )
    assert response.status_code == 200  # the form again, with the error
    assert not Contact.objects.filter(first_name="Cross").exists()


def test_admin_change_and_delete_go_through_the_service(op_client, operator, account):
    contact = ContactFactory(account=account, first_name="Before")
    url = reverse("admin:crm_contact_change", args=[contact.pk])
    response = op_client.post(
        url,
        {
            "first_name": "After",
            "last_name": contact.last_name,
            "email": contact.email,
            "phone": contact.phone,
            "position": contact.position,
            "company": "",
        },
    )
    assert response.status_code == 302, response.content
    contact.refresh_from_db()
    assert contact.first_name == "After" and contact.account == account

    response = op_client.post(
        reverse("admin:crm_contact_delete", args=[contact.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    # Into the recycle bin, as everywhere: hidden from the account, kept with its entry.
    assert not Contact.objects.for_account(account).filter(pk=contact.pk).exists()
    entry = BinEntry.objects.get()
    assert (entry.entity_type, entry.entity_id, entry.deleted_by) == (
        "contact",
        contact.pk,
        operator,
    )
    assert Contact.objects.get(pk=contact.pk).bin_entry == entry


def test_bulk_delete_action_uses_the_service_and_djangos_own_is_gone(op_client, account):
    companies = CompanyFactory.create_batch(3, account=account)
    activities = [ActivityFactory(account=account, company=c) for c in companies]
    contact = ContactFactory(account=account, company=companies[0])
    changelist = reverse("admin:crm_company_changelist")
    choices = op_client.get(changelist).context["action_form"].fields["action"].choices
    assert [value for value, _ in choices if value] == ["delete_selected_records"]
    response = op_client.post(
        changelist,
        {"action": "delete_selected_records", "_selected_action": [c.pk for c in companies]},
    )
    assert response.status_code == 302
    assert not Company.objects.for_account(account).exists()
    assert not Activity.objects.for_account(account).exists()
    # One entry per company, each holding the company's activity; the contact stays live.
    for company, activity in zip(companies, activities, strict=True):
        entry = BinEntry.objects.get(entity_type="company", entity_id=company.pk)
        assert entry.item_count == 2
        assert Company.objects.get(pk=company.pk).bin_entry == entry
        assert Activity.objects.get(pk=activity.pk).bin_entry == entry
    assert BinEntry.objects.count() == 3
    assert Contact.objects.for_account(account).get(pk=contact.pk).company is None
