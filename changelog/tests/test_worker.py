"""A revert too big for a request, run by a real Celery worker process (the broker the settings
name): 202 with the job, the worker claims it once (a duplicate delivery does nothing), applies
it in one transaction and the job says completed at 100%."""

from decimal import Decimal

import pytest

from changelog import tasks
from changelog.tests.factories import amounts, deals_edited
from conftest import wait_for

URL = "/api/v1/history/revert/"


@pytest.mark.worker
def test_a_real_worker_runs_a_revert_job(worker, settings, api, account, admin_user, employee):
    settings.REVERT_JOB_THRESHOLD = 5
    deals = deals_edited(account, admin_user, employee, count=12)

    answer = api.post(URL, {"filter": {"actor": employee.pk}}, format="json")
    assert answer.status_code == 202, answer.content
    job = answer.json()["job"]
    tasks.revert_job_run.delay(job["id"])  # a duplicate delivery on top of the service's own

    def finished() -> bool:
        return api.get(f"{URL}jobs/{job['id']}/").json()["status"] in ("completed", "failed")

    assert wait_for(finished), "the worker did not run the job"
    done = api.get(f"{URL}jobs/{job['id']}/").json()
    assert (done["status"], done["error"], done["progress"]) == ("completed", "", 100)
    assert done["result"]["records"] == 12
    assert amounts(deals) == {Decimal("10.00")}
