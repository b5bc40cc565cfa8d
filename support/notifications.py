"""Telling both sides what happened to a request: a Notification row per recipient (in the
app, written in the step's transaction) and, for the steps that need someone to act or look,
an email sent once the transaction commits. A failing mail server is logged and never undoes
or breaks the step."""

import logging

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from accounts.models import User
from support.models import (
    Notification,
    NotificationVerb,
    RequestKind,
    RequestStatus,
    RestoreRequest,
)

logger = logging.getLogger(__name__)

# The steps that are also emailed: a request filed or answered, a proposal to confirm, the end.
EMAILED = frozenset(
    {
        NotificationVerb.FILED,
        NotificationVerb.MESSAGE,
        NotificationVerb.PROPOSED,
        NotificationVerb.COMPLETED,
        NotificationVerb.FAILED,
        NotificationVerb.REJECTED,
    }
)


def recipients(request: RestoreRequest, *, actor: User | None) -> list[User]:
    """The account's active admins and the active support staff, but not who did it."""
    users = User.objects.filter(
        Q(account_id=request.account_id, role=User.Role.ADMIN) | Q(is_support=True),
        is_active=True,
    ).order_by("pk")
    if actor is not None:
        users = users.exclude(pk=actor.pk)
    return list(users)


def _text(request: RestoreRequest, verb: str) -> str:
    if verb == NotificationVerb.COMPLETED and request.kind == RequestKind.EXPORT:
        return _(
            "Restore request #%(id)s (%(account)s): the export of snapshot #%(snapshot)s is "
            "ready to download."
        ) % {"id": request.pk, "account": request.account.name, "snapshot": request.snapshot_id}
    texts: dict[str, str] = {
        NotificationVerb.FILED: _("Restore request #%(id)s was filed by %(account)s."),
        NotificationVerb.MESSAGE: _("New message on restore request #%(id)s (%(account)s)."),
        NotificationVerb.PROPOSED: _(
            "Support proposed a snapshot for restore request #%(id)s (%(account)s); "
            "an admin's confirmation is needed."
        ),
        NotificationVerb.CONFIRMED: _("Restore request #%(id)s (%(account)s) was confirmed."),
        NotificationVerb.APPROVED: _(
            "Restore request #%(id)s (%(account)s) was approved and is queued."
        ),
        NotificationVerb.COMPLETED: _(
            "Restore request #%(id)s (%(account)s) completed: the data is restored."
        ),
        NotificationVerb.FAILED: _(
            "Restore request #%(id)s (%(account)s) failed; the account's data was not changed."
        ),
        NotificationVerb.REJECTED: _("Restore request #%(id)s (%(account)s) was rejected."),
        NotificationVerb.CANCELLED: _("Restore request #%(id)s (%(account)s) was cancelled."),
    }
    return texts[verb] % {"id": request.pk, "account": request.account.name}


def _page_url(request: RestoreRequest, user: User) -> str:
    name = "support:console_detail" if user.is_support else "support:request_detail"
    try:
        path = reverse(name, args=[request.pk])
    except NoReverseMatch:  # the browser pages are not routed
        return ""
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def download_path(request: RestoreRequest) -> str:
    """Where an account admin downloads a completed export: the Backups page's export of the
    request's snapshot (which checks the admin's account and writes the ``export`` event).
    Empty for anything else, or once the snapshot is gone."""
    if (
        request.kind != RequestKind.EXPORT
        or request.status != RequestStatus.COMPLETED
        or request.snapshot_id is None
    ):
        return ""
    try:
        return reverse("backups:export", args=[request.snapshot_id])
    except NoReverseMatch:  # the browser pages are not routed
        return ""


def _email(request: RestoreRequest, verb: str, user: User, detail: str) -> EmailMessage:
    text = _text(request, verb)
    lines = [text]
    if detail:
        lines += ["", detail]
    download = download_path(request) if user.is_account_admin else ""
    if verb == NotificationVerb.COMPLETED and download:
        lines += [
            "",
            _("Download the ZIP of CSV files: %(url)s")
            % {"url": f"{settings.SITE_URL.rstrip('/')}{download}"},
        ]
    url = _page_url(request, user)
    if url:
        lines += ["", _("Open the request: %(url)s") % {"url": url}]
    return EmailMessage(
        subject=f"[CRM] {text}",
        body="\n".join(lines) + "\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
    )


def notify(*, request: RestoreRequest, verb: str, actor: User | None, detail: str = "") -> int:
    """Notify everyone concerned but ``actor`` of ``verb``; call inside the step's transaction.
    ``detail`` (a message's text, an error) goes into the email. Returns how many were told."""
    users = recipients(request, actor=actor)
    Notification.objects.bulk_create(
        Notification(recipient=user, request=request, verb=verb, actor=actor) for user in users
    )
    if verb in EMAILED:
        emails = [_email(request, verb, user, detail) for user in users if user.email]
        if emails:
            transaction.on_commit(lambda: emails_send(emails))
    return len(users)


def emails_send(emails: list[EmailMessage]) -> int:
    """Send, logging instead of raising: the step they tell about has happened already."""
    try:
        return get_connection().send_messages(emails) or 0
    except Exception:
        logger.exception(
            "could not send %d notification email(s): %s",
            len(emails),
            "; ".join(str(email.subject) for email in emails),
        )
        return 0
