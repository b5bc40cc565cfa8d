"""The chat of a restore request and the notifications it sends: a message from either side
(in any state: a finished request can still be talked about), and marking notifications read.
The workflow's own system lines are written by each step (support.services.steps)."""

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core.errors import RuleViolation
from support import rules
from support.models import Message, Notification, NotificationVerb, RestoreRequest
from support.notifications import notify
from support.services.steps import own_account_require

MESSAGE_MAX_CHARS = 5000


@transaction.atomic
def message_post(*, request: RestoreRequest, user: User, body: str) -> Message:
    """A message in the request's chat, from one of the account's admins or support, in any
    state (a finished request can still be talked about)."""
    rules.participant_require(user=user)
    if not user.is_support:
        own_account_require(request=request, user=user)
    body = (body or "").strip()
    if not body:
        raise RuleViolation(code="invalid", message=_("The message is empty."))
    if len(body) > MESSAGE_MAX_CHARS:
        raise RuleViolation(
            code="invalid",
            message=_("A message has at most %(max)s characters.") % {"max": MESSAGE_MAX_CHARS},
        )
    message = Message.objects.create(
        request=request, author=user, is_support=user.is_support, body=body
    )
    RestoreRequest.objects.filter(pk=request.pk).update(updated_at=message.created_at)
    notify(request=request, verb=NotificationVerb.MESSAGE, actor=user, detail=body)
    return message


def notifications_mark_read(*, user: User, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications read (``ids`` None: all). Returns how many changed."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    return unread.update(read_at=timezone.now())
