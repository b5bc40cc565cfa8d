"""The chat's system lines: written by the workflow's steps (support.services), read in each
reader's language.

A step stores the line's message id and its raw values in ``Message.line`` (times as ISO 8601,
a restore's kind as its code), and the text as the actor read it in ``Message.body``. Pages and
the API show ``line_text``: the same line in the language of whoever reads it, its times in the
account's time zone, so a German admin reads support's and the worker's lines in German."""

from datetime import datetime

from django.utils.translation import gettext, ngettext

from support import rules
from support.models import RequestKind


def kind_label(kind: str) -> str:
    return str(RequestKind(kind).label) if kind in RequestKind.values else kind


def ngettext_noop(singular: str, plural: str) -> tuple[str, str]:
    """Marks a line with a plural for makemessages (core's makemessages knows the keyword)."""
    return singular, plural


def line_make(msgid: str | tuple[str, str], *, number: str = "", **values) -> dict:
    """A system line to store: ``msgid`` (marked with gettext_noop where it is written, or a
    pair from ngettext_noop, its form chosen by the value named ``number``) and its values; a
    datetime is kept as a time, ``kind`` as the kind's code."""
    raw = {}
    for name, value in values.items():
        if isinstance(value, datetime):
            value = {"moment": value.isoformat()}
        raw[name] = value
    if isinstance(msgid, tuple):
        return {"text": msgid[0], "plural": msgid[1], "number": number, "values": raw}
    return {"text": msgid, "values": raw}


def line_text(line: dict, *, account) -> str:
    """The line in the active language."""
    values = {}
    for name, value in line.get("values", {}).items():
        if isinstance(value, dict) and "moment" in value:
            value = rules.moment(account, datetime.fromisoformat(value["moment"]))
        elif name == "kind":
            value = kind_label(value).lower()
        values[name] = value
    if "plural" in line:
        return ngettext(line["text"], line["plural"], int(values[line["number"]])) % values
    return gettext(line["text"]) % values


def message_text(message, *, account) -> str:
    """What a chat message says to the reader: a system line in their language, anything
    written by a person as it was written."""
    if message.is_system and message.line:
        return line_text(message.line, account=account)
    return message.body
