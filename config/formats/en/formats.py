"""How times read in English, one format everywhere (issue 18: "12/06/2026 4:07 p.m." beside
"Dec. 6, 2026, 4:07 p.m." on one card, and "p.m.." at the end of a sentence). No period in
them, so none doubles at a sentence's end. Input formats stay Django's."""

DATE_FORMAT = "M j, Y"
SHORT_DATE_FORMAT = "M j, Y"
DATETIME_FORMAT = "M j, Y, g:i A"
SHORT_DATETIME_FORMAT = "M j, Y, g:i A"
TIME_FORMAT = "g:i A"
MONTH_DAY_FORMAT = "M j"
YEAR_MONTH_FORMAT = "F Y"
