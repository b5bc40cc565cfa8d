"""A snapshot that failed its restore drill (backups.drill) is never offered for a restore:
support's choices leave it out, and naming it is refused (409 snapshot_invalid)."""

import pytest

from backups.models import Snapshot
from core.errors import RuleViolation
from support import services
from support.selectors import request_default_snapshot, snapshots_within_retention
from support.tests.factories import request_make, snapshot_kept

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed(account) -> Snapshot:
    snapshot = snapshot_kept(account)
    Snapshot.objects.filter(pk=snapshot.pk).update(
        drill_status=Snapshot.Drill.FAILED, drill_error="crm_company: the rows differ"
    )
    snapshot.refresh_from_db()
    return snapshot


def test_it_is_not_among_the_snapshots_a_restore_may_use(failed):
    request = request_make(failed.account, status="open")

    assert failed not in snapshots_within_retention(account=failed.account)
    assert request_default_snapshot(request=request) is None


def test_support_cannot_propose_it(failed, support_user):
    request = request_make(failed.account, status="open")

    with pytest.raises(RuleViolation) as refused:
        services.request_propose(request=request, user=support_user, snapshot=failed)

    assert refused.value.code == "snapshot_invalid"
    assert "failed its restore drill" in refused.value.message
