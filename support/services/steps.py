"""What every step of a restore request writes besides the request's row, in the step's
transaction: a system line in the chat, a history event of the account about the request, and
the notifications (emails go out on commit). Shared by the lifecycle and the run."""

from typing import Any

from django.utils import timezone

from accounts.models import User
from core.errors import RuleViolation
from history.services import history_record
from support.chat_lines import line_text
from support.models import Message, RestoreRequest
from support.notifications import notify
from support.subjects import RESTORE_REQUEST


def request_locked(*, request: RestoreRequest) -> RestoreRequest:
    """The request's row, locked until the transaction ends (a second approval waits here,
    then finds the first one's state)."""
    return (
        RestoreRequest.objects.select_for_update(of=("self",))
        .select_related("account", "snapshot")
        .get(pk=request.pk)
    )


def own_account_require(*, request: RestoreRequest, user: User) -> None:
    """An admin acts on the account's requests only; another's is "not found", exactly as a
    missing one."""
    if user.account_id != request.account_id:
        raise RuleViolation(code="not_found", message="No such restore request.")


def step_record(
    *,
    request: RestoreRequest,
    event_type: str,  # an EventType, or one an app registered (history.subjects)
    actor: User | None,
    line: dict[str, Any],
    verb: str | None,
    details: dict[str, Any] | None = None,
    detail: str = "",
) -> None:
    """What every step writes besides the request: the chat's system line, the history
    event, the notifications (and emails, on commit). ``verb`` None: nobody is notified."""
    Message.objects.create(
        request=request, is_system=True, body=line_text(line, account=request.account), line=line
    )
    history_record(
        account=request.account,
        actor=actor,
        event_type=event_type,
        entity_type=RESTORE_REQUEST,
        entity_id=request.pk,
        title=f"Restore request #{request.pk}",
        details={"kind": request.kind, **(details or {})},
    )
    if verb is not None:
        notify(request=request, verb=verb, actor=actor, detail=detail)


def request_save(*, request: RestoreRequest, **values: Any) -> None:
    """Write ``values`` to the (locked) request, and when it changed."""
    for name, value in values.items():
        setattr(request, name, value)
    request.updated_at = timezone.now()
    request.save(update_fields=[*values, "updated_at"])
