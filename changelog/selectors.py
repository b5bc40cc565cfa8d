from django.db import connection
from django.db.models import QuerySet

from accounts.models import Account, User
from changelog.models import Alert, RevertJob
from core.errors import RuleViolation


def revert_job_get(*, user: User, job_id: int) -> RevertJob:
    """One of the account's revert jobs (employees: their own), or 404."""
    jobs = RevertJob.objects.for_account(user.account)
    if not user.is_account_admin:
        jobs = jobs.filter(requested_by=user)
    job = jobs.filter(pk=job_id).first()
    if job is None:
        raise RuleViolation(code="not_found", message=f"No revert job {job_id}.")
    return job


def alerts_open(*, account: Account, most: int) -> list[Alert]:
    """The account's alerts not acknowledged yet, newest first. For the banner on every page:
    whether there is any is asked in plain SQL (the ``alert_account_open`` index; the ORM took
    longer to build the query than the database to answer it), the alerts read only then."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {Alert._meta.db_table} "  # noqa: S608 - the model's names
            "WHERE account_id = %s AND acknowledged_at IS NULL LIMIT 1",
            [account.pk],
        )
        if cursor.fetchone() is None:
            return []
    return list(
        Alert.objects.for_account(account)
        .filter(acknowledged_at__isnull=True)
        .order_by("-id")[:most]
    )


def alerts_for_account(*, account: Account) -> QuerySet[Alert]:
    return Alert.objects.for_account(account).order_by("-id")


def alert_get(*, account: Account, alert_id: int | None) -> Alert:
    alert = Alert.objects.for_account(account).filter(pk=alert_id or 0).first()
    if alert is None:
        raise RuleViolation(code="not_found", message=f"No alert {alert_id}.")
    return alert
