"""``manage.py check_integrity`` and the nightly check (API.md, "Management commands"): the
invariants hold after the product's own work; each breach a race or a hand-made change could
leave is named, the command exits 1, and the nightly job logs and mails it to the operators."""

import logging

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from backups import services
from backups.integrity import integrity_breaches
from backups.tasks import integrity_check_nightly
from crm import services as crm_services
from crm.models import Activity, Contact, Deal
from crm.tests.factories import ActivityFactory, CompanyFactory, ContactFactory, DealFactory
from recyclebin.models import HiddenLink

pytestmark = pytest.mark.django_db(transaction=True)  # snapshots read in their own transaction


@pytest.fixture
def world(account, admin_user, snapshot_dir):
    """An account after ordinary work: records, some in the bin with what went with them, and a
    snapshot."""
    company = CompanyFactory(account=account)
    contact = ContactFactory(account=account, company=company)
    deal = DealFactory(account=account, company=company, contact=contact)
    ActivityFactory(account=account, company=None, deal=deal)
    entry = crm_services.record_delete(record=company, actor=admin_user)  # hides 2 links
    crm_services.record_delete(record=deal, actor=admin_user)
    snapshot = services.snapshot_take(account=account, kind="manual")
    return {
        "company": company,
        "contact": contact,
        "deal": deal,
        "entry": entry,
        "snapshot": snapshot,
    }


def run(*args) -> tuple[int, str]:
    from io import StringIO

    out, err = StringIO(), StringIO()
    try:
        call_command("check_integrity", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        return int(exit_.code), out.getvalue() + err.getvalue()
    return 0, out.getvalue()


def test_the_products_own_work_keeps_every_invariant(account, other_account, world):
    assert integrity_breaches(account=account) == []
    code, output = run()
    assert code == 0 and "No problem in 2 accounts" in output


def test_a_record_live_again_while_its_entry_lists_it(account, world):
    """What the delete-versus-edit race left before the fix (issue 15, item 1)."""
    Deal.objects.filter(pk=world["deal"].pk).update(bin_entry=None)

    code, output = run("--account", account.name)

    assert code == 1
    assert "bin entries of deal records do not hold their record" in output
    assert "Acme: " in output


def test_a_live_record_linking_into_the_bin(account, world):
    Contact.objects.filter(pk=world["contact"].pk).update(company=world["company"])
    Activity.objects.filter(deal=world["deal"]).update(bin_entry=None)

    breaches = integrity_breaches(account=account)

    assert any("live contact records link to a company in the bin" in b for b in breaches)
    assert any("live activity records link to a deal in the bin" in b for b in breaches)


def test_a_hidden_link_to_a_record_that_is_gone(account, world):
    HiddenLink.objects.filter(entry=world["entry"]).update(record_id=987654321)
    assert any("hidden links name" in b for b in integrity_breaches(account=account))


@pytest.mark.parametrize("damage", ["missing", "size", "checksum"])
def test_a_snapshot_file_that_does_not_match_its_row(account, world, snapshot_dir, damage):
    snapshot = world["snapshot"]
    path = snapshot_dir / snapshot.storage_name
    data = path.read_bytes()
    if damage == "missing":
        path.unlink()
    elif damage == "size":
        path.write_bytes(data[:-1])
    else:
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))

    breaches = integrity_breaches(account=account)

    expected = {"missing": "is missing", "size": "bytes, its row says", "checksum": "checksum"}
    assert (
        [b for b in breaches if b.startswith(f"snapshot #{snapshot.pk}")]
        == [b for b in breaches if expected[damage] in b]
        != []
    )


def test_an_unknown_account_is_refused(world):
    with pytest.raises(CommandError, match="No account named"):
        call_command("check_integrity", "--account", "Nobody")


def test_the_nightly_check_logs_and_mails_the_operators(account, world, settings, caplog):
    settings.ADMINS = [("Ops", "ops@example.com")]
    assert integrity_check_nightly() == 0
    assert mail.outbox == []

    Deal.objects.filter(pk=world["deal"].pk).update(bin_entry=None)
    with caplog.at_level(logging.ERROR, logger="backups.integrity"):
        assert integrity_check_nightly() == 1

    assert "do not hold their record" in caplog.text
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ops@example.com"]
    assert "Acme: 1 bin entries of deal records" in mail.outbox[0].body
