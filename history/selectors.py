from datetime import datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account, User
from history.models import Event, EventType
from history.subjects import record_subject_types, registered_event_types

CHART_CACHE_SECONDS = 600

# The events that changed a record's data: a revert (changelog) can undo them.
RECORD_CHANGES = (
    EventType.CREATE,
    EventType.UPDATE,
    EventType.DELETE,
    EventType.RESTORE,
    EventType.PURGE,
    EventType.ROLLBACK,
    EventType.RECOVER,
    EventType.REVERT,
)


def record_changes(events: QuerySet) -> QuerySet:
    """The events among ``events`` that changed a record, each undoable on its own: not the
    account-wide event of a restore (no record), not a link that a delete or restore cleared
    or put back on another record (an ``update`` with ``details.cause``: it follows its
    cause)."""
    return events.filter(
        entity_id__isnull=False, event_type__in=[str(kind) for kind in RECORD_CHANGES]
    ).exclude(details__has_key="cause")


def is_record_change(event: Event) -> bool:
    """``record_changes`` for one event."""
    return (
        event.entity_id is not None
        and event.event_type in RECORD_CHANGES
        and "cause" not in (event.details or {})
    )


def events_for_account(*, account: Account) -> QuerySet:
    return Event.objects.for_account(account)


def event_actors(*, account: Account) -> list[tuple[str, str]]:
    """Who appears as the actor of the account's events, for the history's user filter
    (``(value, name)``, the filter's value): the account's users, the support staff who acted
    or looked at it (every restore they run is a request they approved: they show among the
    actors of the kinds of event other apps register), and "System" for events no person
    made. The account's own kinds of event are not scanned: millions of them."""
    members = list(account.users.order_by("username").values_list("pk", "username"))
    known = {pk for pk, _name in members}
    outside = (
        events_for_account(account=account)
        .filter(event_type__in=registered_event_types())
        .exclude(actor_id__isnull=True)
        .exclude(actor_id__in=known)
        .values_list("actor_id", "actor_username")
        .order_by()  # DISTINCT over these two only (the model's ordering would add the id)
        .distinct()
    )
    others = sorted(set(outside), key=lambda pair: pair[1])
    return [
        *((str(pk), name) for pk, name in members),
        *((str(pk), _("%(name)s (support)") % {"name": name}) for pk, name in others),
        ("system", _("System")),
    ]


def events_visible(*, account: Account, user: User) -> QuerySet:
    """The account's events ``user`` may read: an admin all of them; an employee those of the
    CRM's records (DESIGN.md: restore-request, support-access and alert events, and the
    account-wide ones of restores and maintenance, are for admins)."""
    events = events_for_account(account=account)
    if user.is_account_admin:
        return events
    return events.filter(entity_type__in=record_subject_types(), entity_id__isnull=False)


def history_version(*, account: Account) -> tuple[int, int]:
    """What changes whenever the account's history does, and with it whatever the history
    records (its records, its recycle bin): the newest event's id, and the mark every writer
    of events sets when its transaction commits (history.services.history_changed), which
    also tells an event committed after a newer one (two transactions). For pages kept whole
    while it stays the same (core.page_cache)."""
    with connection.cursor() as cursor:
        # Plain SQL: one index lookup (event_account_newest); the ORM took longer to build it.
        cursor.execute(
            f"SELECT MAX(id) FROM {Event._meta.db_table} WHERE account_id = %s",  # noqa: S608
            [account.pk],
        )
        (newest,) = cursor.fetchone()
    return newest or 0, cache.get(history_changed_key(account.pk), 0)


def history_changed_key(account_id: int) -> str:
    return f"history:changed:{account_id}"


def events_for_record(*, account: Account, entity_type: str, entity_id: int) -> QuerySet:
    return events_for_account(account=account).filter(entity_type=entity_type, entity_id=entity_id)


def deletions_per_day(*, account: Account, days: int = 30) -> list[tuple]:
    """``[(date, count), ...]`` for the last ``days`` days in the account's time zone, oldest
    first, every day present (zero when nothing was deleted)."""
    zone = ZoneInfo(account.time_zone)
    today = timezone.now().astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    dates = [first + timedelta(days=i) for i in range(days + 1)]
    # Events are only ever added, each delete with a new id and the time it happened: while
    # the account's latest delete and the day stay the same, so do the counts. They are
    # kept for the page's next views (the page's costliest query: 8-13 ms at 1,000,000
    # events, bench/bin_history.py); a new delete changes the key. A delete committed after a
    # later one (two transactions) shows within CHART_CACHE_SECONDS at the latest.
    latest = (
        Event.objects.filter(account=account, event_type=EventType.DELETE)
        .order_by("-occurred_at")
        .values_list("id", "occurred_at")
        .first()
    )
    latest_key = f"{latest[0]}@{latest[1].timestamp()}" if latest else "none"
    key = f"history:deletions:{account.pk}:{zone.key}:{today}:{days}:{latest_key}"
    counts = cache.get(key)
    if counts is None:
        counts = _deletions_counted(account=account, zone=zone, dates=dates)
        cache.set(key, counts, CHART_CACHE_SECONDS)
    return list(zip(dates[:days], counts, strict=True))


def _deletions_counted(*, account: Account, zone: ZoneInfo, dates: list) -> tuple[int, ...]:
    """Deletions between each date's local midnight and the next's (DST included).

    Each day's own COUNT(*): a range scan of the (account, event_type, occurred_at) index
    that never reads the table, thirty of them in one statement. Grouping a month of
    deletions by local date instead converted every row's time zone: 41 ms, then 18 ms with
    COUNT(*), now 8 ms at 50,000 deletions a month (bench/README.md, bin_history.py). Plain
    SQL because the ORM took longer to build thirty subqueries than PostgreSQL took to run
    them."""
    bounds = [
        connection.ops.adapt_datetimefield_value(datetime.combine(date, time.min, tzinfo=zone))
        for date in dates
    ]
    one_day = (
        f"(SELECT COUNT(*) FROM {Event._meta.db_table} WHERE account_id = %s"  # noqa: S608
        " AND event_type = %s AND occurred_at >= %s AND occurred_at < %s)"
    )
    params = [
        value
        for start, end in pairwise(bounds)
        for value in (account.pk, EventType.DELETE.value, start, end)
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join([one_day] * (len(dates) - 1)), params)
        return tuple(cursor.fetchone())
