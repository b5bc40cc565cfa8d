"""A write and a rollback starting at the same moment: the write either commits before
maintenance begins (so the safety snapshot holds it) or is refused; it never lands in between,
where the rollback would undo it without a trace (accounts.rules.account_writable_require)."""

import threading

import pytest
from django.db import OperationalError, connection, connections, transaction

from accounts.models import Account
from core.errors import RuleViolation
from crm.entities import entity_for_model
from crm.models import Contact
from crm.services import record_create


def _claim(account: Account) -> int:
    """What backups.restore does to start maintenance."""
    with transaction.atomic():
        return Account.objects.filter(pk=account.pk, maintenance=False).update(maintenance=True)


def test_a_write_is_refused_even_when_its_account_was_loaded_before_maintenance(
    db, account, admin_user
):
    loaded = Account.objects.get(pk=account.pk)  # at the start of the request
    assert _claim(account) == 1

    with pytest.raises(RuleViolation) as refused:
        record_create(
            account=loaded,
            actor=admin_user,
            entity=entity_for_model(Contact),
            data={"first_name": "Late", "last_name": "Write"},
        )

    assert refused.value.code == "maintenance"
    assert not Contact.objects.filter(account=account).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_restore_waits_for_a_write_in_flight(account, admin_user):
    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL")
    checked, release, errors = threading.Event(), threading.Event(), []

    def write() -> None:
        try:
            with transaction.atomic():
                record_create(
                    account=account,
                    actor=admin_user,
                    entity=entity_for_model(Contact),
                    data={"first_name": "In", "last_name": "Flight"},
                )
                checked.set()  # past the maintenance check, not yet committed
                release.wait(10)
        except Exception as error:  # shown by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    writer = threading.Thread(target=write)
    writer.start()
    assert checked.wait(10)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '300ms'")
        with pytest.raises(OperationalError, match="lock timeout"):
            _claim(account)  # held back while the write is open
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
        release.set()
        writer.join(10)
    assert errors == []

    assert _claim(account) == 1  # the write committed first: the safety snapshot will hold it
    assert Contact.objects.filter(account=account, first_name="In").count() == 1
