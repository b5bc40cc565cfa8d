"""The history page's many small parts, written in Python because through the template engine
they took most of the page's time (core.html): ``{% event_rows_html rows show_record
undo_form %}``, the table's rows (``templates/history/_event_table.html`` holds the table), and
``{% deletion_chart_svg chart %}``, the bars of the deletions chart
(``templates/history/_deletions_chart.html``)."""

from django import template
from django.urls import reverse
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from core.html import EMPTY, TimeTags, esc, html_join
from history.display import Change, EventRow

register = template.Library()


@register.simple_tag
def event_rows_html(rows: list[EventRow], show_record: bool, undo_form: str) -> SafeString:
    words = {
        "changed_to": esc(_("changed to")),
        "undo": esc(_("Undo this change")),
        "in_bin": esc(_("in the recycle bin")),
        "revert_url": esc(reverse("changelog:revert")),
        "time": TimeTags(),
    }
    return html_join(_row(row, show_record, esc(undo_form or ""), words) for row in rows)


def _row(row: EventRow, show_record: bool, undo_form: str, words: dict) -> str:
    event = row.event
    user = f'<span class="muted">{esc(row.user)}</span>' if row.is_system else esc(row.user)
    html = (
        f'<tr data-event="{event.pk}"><td class="nowrap">{words["time"](event.occurred_at)}</td>'
        f'<td class="nowrap">{user}</td>'
        f'<td><span class="evt evt--{esc(event.event_type)}">{esc(row.event_label)}</span></td>'
    )
    if show_record:
        html += f"<td>{esc(row.subject or '—')}</td><td>{_record_cell(row, words)}</td>"
    html += f"<td>{_changes_cell(row, words)}</td>"
    if undo_form:
        html += f'<td class="nowrap undo-cell">{_undo(row, undo_form, words)}</td>'
    return html + "</tr>"


def _record_cell(row: EventRow, words: dict) -> str:
    event = row.event
    title = esc(event.entity_title or "—")
    html = (
        f'<a class="rowlink" href="{esc(row.record_url)}">{title}</a>'
        if row.record_url
        else f'<span class="rowtitle">{title}</span>'
    )
    if row.is_record:
        html += f' <span class="muted small">#{event.entity_id}</span>'
    if row.in_bin:
        html += f' <span class="tag tag--muted">{words["in_bin"]}</span>'
    return html


def _changes_cell(row: EventRow, words: dict) -> str:
    if row.changes:
        return (
            f'<ul class="changes">{"".join(_change(change, words) for change in row.changes)}</ul>'
        )
    if row.note:
        return f'<span class="muted">{esc(row.note)}</span>'
    return ""


def _change(change: Change, words: dict) -> str:
    old = EMPTY if change.old is None else esc(change.old)
    new = EMPTY if change.new is None else esc(change.new)
    return (
        f'<li><span class="changes__field">{esc(change.field)}:</span> '
        f'<span class="changes__old">{old}</span> '
        f'<span class="changes__arrow" aria-label="{words["changed_to"]}">→</span> '
        f'<span class="changes__new">{new}</span></li>'
    )


def _undo(row: EventRow, undo_form: str, words: dict) -> str:
    if not row.undoable:
        return ""
    event = row.event
    label = _("Select this change of “%(title)s” to undo it") % {
        "title": event.entity_title or event.pk
    }
    return (
        f'<input type="checkbox" name="events" value="{event.pk}" form="{undo_form}" '
        f'aria-label="{esc(label)}"> '
        f'<a class="btn btn--small btn--ghost" href="{words["revert_url"]}?events={event.pk}">'
        f"{words['undo']}</a>"
    )


@register.simple_tag
def deletion_chart_svg(chart: dict) -> SafeString:
    """The chart's SVG: one slot per day (a link to that day's deletions when there were any),
    its bar, the peak's number, and a date every seventh day. Numbers stay unlocalized (SVG
    wants ``12.5``, not ``12,5``)."""
    width, baseline, slot = chart["width"], chart["baseline"], chart["slot_width"]
    parts = [
        f'<svg class="chart__svg" viewBox="0 0 {width} {chart["height"]}" role="group" '
        'aria-labelledby="chart-heading">'
        f'<line class="chart__base" x1="0" x2="{width}" y1="{baseline}" y2="{baseline}"/>'
    ]
    for bar in chart["bars"]:
        title = esc(bar["title"])
        opening, closing = (
            (f'<a class="chart__day" href="{esc(bar["url"])}" aria-label="{title}">', "</a>")
            if bar["url"]
            else ('<g class="chart__day chart__day--none">', "</g>")
        )
        parts.append(
            f"{opening}<title>{title}</title>"
            f'<rect class="chart__slot" x="{bar["slot_x"]}" y="0" width="{slot}" '
            f'height="{baseline}"/>'
        )
        if bar["count"]:
            peak = " chart__bar--peak" if bar["is_peak"] else ""
            parts.append(
                f'<rect class="chart__bar{peak}" x="{bar["x"]}" y="{bar["y"]}" '
                f'width="{bar["width"]}" height="{bar["height"]}" rx="2"/>'
            )
        if bar["is_peak"]:
            parts.append(
                f'<text class="chart__peak" x="{bar["center"]}" y="{bar["label_y"]}">'
                f"{bar['count']}</text>"
            )
        parts.append(closing)
        if bar["tick"]:
            parts.append(
                f'<text class="chart__tick" x="{bar["center"]}" y="{chart["tick_y"]}">'
                f"{esc(bar['tick_label'])}</text>"
            )
    parts.append("</svg>")
    return html_join(parts)
