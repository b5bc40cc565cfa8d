from accounts.models import User
from changelog.models import RevertJob
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
