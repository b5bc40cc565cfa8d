"""core.html: the rows' HTML helpers. ``format_moment`` must write exactly what Django's
``dateformat.format`` writes, in every language and for every format character."""

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import clear_script_prefix, reverse, set_script_prefix
from django.utils import dateformat, timezone, translation
from django.utils.formats import get_format

from core.html import TimeTags, esc, format_moment, id_url

# Every character Django's formatter knows, escaped ones and plain text around them.
ALL_CHARACTERS = "aAbcdDeEfFgGhHiIjlLmMnNoOPrsStTUuwWyYzZ"
FORMATS = [
    "DATE_FORMAT",
    "SHORT_DATE_FORMAT",
    "DATETIME_FORMAT",
    "SHORT_DATETIME_FORMAT",
    "TIME_FORMAT",
    "MONTH_DAY_FORMAT",
    "YEAR_MONTH_FORMAT",
    ALL_CHARACTERS,
    " ".join(ALL_CHARACTERS),
    r"\Y\e\a\r: Y, \d\a\y: j \\ H:i",
    "",
    "no characters here: 123",
]


def _moments(count: int) -> list[datetime]:
    generator = random.Random(18)  # fixed: the same moments every run
    zones = [ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), UTC]
    start = datetime(1999, 1, 1, tzinfo=UTC)
    special = [
        datetime(2026, 12, 6, 0, 0, tzinfo=UTC),  # midnight
        datetime(2026, 12, 6, 12, 0, tzinfo=UTC),  # noon
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),  # a change of summer time in Berlin
        datetime(5, 1, 2, 3, 4, tzinfo=UTC),  # a year of one digit
    ]
    moments = [
        (start + timedelta(seconds=generator.randrange(40 * 365 * 86400))).astimezone(
            generator.choice(zones)
        )
        for _ in range(count)
    ]
    return special + moments


@pytest.mark.parametrize("language", ["en", "de"])
def test_format_moment_writes_what_django_writes(language):
    with translation.override(language):
        for format_name in FORMATS:
            format_string = (
                get_format(format_name) if format_name.endswith("_FORMAT") else format_name
            )
            for moment in _moments(300):
                assert format_moment(moment, format_string) == dateformat.format(
                    moment, format_string
                ), (format_string, moment)


@pytest.mark.parametrize("language", ["en", "de"])
def test_format_moment_writes_dates_as_django_does(language):
    with translation.override(language):
        for format_name in ("DATE_FORMAT", "MONTH_DAY_FORMAT", "YEAR_MONTH_FORMAT", "d.m.y D"):
            format_string = (
                get_format(format_name) if format_name.endswith("_FORMAT") else format_name
            )
            for day in (date(2026, month, 1 + month) for month in range(1, 13)):
                assert format_moment(day, format_string) == dateformat.format(day, format_string)


def test_format_moment_follows_the_active_language():
    moment = datetime(2026, 3, 5, 16, 7, tzinfo=UTC)
    with translation.override("en"):
        english = format_moment(moment, "F, M j, g:i A")
    with translation.override("de"):
        german = format_moment(moment, "F, M j, g:i A")
    assert english == "March, Mar 5, 4:07 PM"
    assert german == "März, Mär 5, 4:07 nachm."


def test_time_tags_write_the_moment_in_the_active_zone_and_escape_it():
    with translation.override("en"), timezone.override(ZoneInfo("Europe/Berlin")):
        tag = TimeTags()(datetime(2026, 12, 6, 15, 7, tzinfo=UTC))
    assert tag == '<time datetime="2026-12-06T16:07:00+01:00">Dec 6, 2026, 4:07 PM</time>'
    assert esc('<a href="x">&\'') == "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;"


@pytest.mark.parametrize("prefix", ["/", "/crm/"])
@pytest.mark.parametrize("name", ["crm:company_detail", "crm:activity_detail"])
def test_id_url_writes_what_reverse_writes(name, prefix):
    set_script_prefix(prefix)
    try:
        url = id_url(name)
        for pk in (1, 42, 8_675_309, 10**12):
            assert url(pk) == reverse(name, args=[pk])
    finally:
        clear_script_prefix()
