from celery import shared_task
from django.contrib.sessions.models import Session
from django.utils import timezone


@shared_task
def sessions_clear_expired() -> int:
    """Nightly: drop expired browser sessions (what `manage.py clearsessions` does), so the
    session table does not grow forever. Returns how many were removed."""
    # Sessions belong to no account: this housekeeping reads no tenant data.
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted
