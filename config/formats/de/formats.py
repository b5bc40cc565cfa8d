"""How times read in German, one format everywhere (see the English module). Input formats
stay Django's."""

DATE_FORMAT = "j. M Y"
SHORT_DATE_FORMAT = "j. M Y"
DATETIME_FORMAT = "j. M Y, H:i"
SHORT_DATETIME_FORMAT = "j. M Y, H:i"
TIME_FORMAT = "H:i"
MONTH_DAY_FORMAT = "j. M"
YEAR_MONTH_FORMAT = "F Y"
