"""``{% bin_rows_html rows columns selectable can_restore is_admin %}``: the recycle bin's
table rows (``templates/recyclebin/bin_list.html`` holds the table around them), written in
Python because a page of 50 rows through the template engine took most of the page's time
(core.html)."""

from collections.abc import Callable

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.timesince import timeuntil
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.html import TimeTags, esc, html_join
from crm.entities import EntityType
from recyclebin.models import BinEntry

register = template.Library()


@register.simple_tag
def bin_rows_html(
    rows: list[dict], columns: list[dict], selectable: bool, can_restore: bool, is_admin: bool
) -> SafeString:
    page = {
        "selectable": selectable,
        "can_restore": can_restore,
        "is_admin": is_admin,
        "labels": [esc(column["label"]) for column in columns],
        "restore_url": esc(reverse("recyclebin:restore")),
        "purge_url": esc(reverse("recyclebin:purge")),
        "restore": esc(_("Restore")),
        "delete": esc(_("Delete…")),
        "purge_title": esc(_("Delete permanently")),
        "history": esc(_("history")),
        "removed_user": esc(_("a removed user")),
        "types": {value: str(label) for value, label in EntityType.choices},
        "time": TimeTags(),
        "now": timezone.now(),
        # Each sentence translated once a page, filled in per row (a lookup costs as much as
        # the rest of a row).
        "select": _("Select “%(title)s”"),
        "in_left": _("in %(left)s"),
        "restore_one": _("Restore “%(title)s”"),
        "purge_one": _("Delete “%(title)s” permanently"),
        "items": _PerCount(
            lambda count: ngettext(
                "The %(name)s and %(counter)s activity",
                "The %(name)s and %(counter)s activities",
                count,
            )
        ),
        "with": _PerCount(
            lambda count: ngettext(
                "with %(counter)s activity", "with %(counter)s activities", count
            )
        ),
    }
    return html_join(_row(row["entry"], row["history_url"], page) for row in rows)


class _PerCount:
    """A sentence for a count (an ``ngettext``), looked up once per count on a page."""

    def __init__(self, sentence: Callable[[int], str]) -> None:
        self.sentence = sentence
        self.known: dict[int, str] = {}

    def __call__(self, count: int) -> str:
        if count not in self.known:
            self.known[count] = self.sentence(count)
        return self.known[count]


def _row(entry: BinEntry, history_url: str, page: dict) -> str:
    labels, time = page["labels"], page["time"]
    type_label = page["types"].get(entry.entity_type, entry.entity_type)
    activities = entry.item_count - 1
    html = f'<tr data-entry="{entry.pk}">'
    if page["selectable"]:
        select = page["select"] % {"title": entry.title}
        html += (
            f'<td class="check"><input type="checkbox" name="ids" value="{entry.pk}" '
            f'id="entry-{entry.pk}" aria-label="{esc(select)}"></td>'
        )
    deleted_by = (
        esc(entry.deleted_by.username)
        if entry.deleted_by
        else f'<span class="muted">{page["removed_user"]}</span>'
    )
    purge = time(entry.purge_after, "SHORT_DATE_FORMAT")
    left = page["in_left"] % {"left": timeuntil(entry.purge_after, page["now"])}
    items = page["items"](activities) % {"name": type_label, "counter": activities}
    html += (
        f'<td><span class="typetag typetag--{esc(entry.entity_type)}">{esc(type_label)}</span></td>'
        f'<td class="bin__title">{_title(entry, history_url, page)}</td>'
        f'<td class="nowrap" data-label="{labels[2]}">{deleted_by}</td>'
        f'<td class="nowrap" data-label="{labels[3]}">{time(entry.deleted_at)}</td>'
        f'<td class="nowrap" data-label="{labels[4]}">{purge}'
        f' <span class="rowmeta">{esc(left)}</span></td>'
        f'<td class="num" data-label="{labels[5]}" title="{esc(items)}">{entry.item_count}</td>'
    )
    if page["selectable"]:
        html += f'<td class="rowactions">{_actions(entry, page)}</td>'
    return html + "</tr>"


def _title(entry: BinEntry, history_url: str, page: dict) -> str:
    title = esc(entry.title)
    html = (
        f'<label class="rowtitle" for="entry-{entry.pk}">{title}</label>'
        if page["selectable"]
        else f'<span class="rowtitle">{title}</span>'
    )
    activities = entry.item_count - 1
    with_activities = (
        " · " + page["with"](activities) % {"counter": activities} if activities > 0 else ""
    )
    return (
        f'{html} <span class="rowmeta">#{entry.entity_id}{esc(with_activities)} · '
        f'<a href="{esc(history_url)}">{page["history"]}</a></span>'
    )


def _actions(entry: BinEntry, page: dict) -> str:
    html = ""
    if page["can_restore"]:
        label = page["restore_one"] % {"title": entry.title}
        html += (
            f'<button type="submit" class="btn btn--small" name="entry" value="{entry.pk}" '
            f'formaction="{page["restore_url"]}" aria-label="{esc(label)}">{page["restore"]}'
            "</button>"
        )
    if page["is_admin"]:
        label = page["purge_one"] % {"title": entry.title}
        html += (
            f'<button type="submit" class="btn btn--small btn--danger-outline" name="entry" '
            f'value="{entry.pk}" formaction="{page["purge_url"]}" title="{page["purge_title"]}" '
            f'aria-label="{esc(label)}">{page["delete"]}</button>'
        )
    return html
