"""CSV cells that are safe to open in a spreadsheet."""

FORMULA_STARTS = "=+-@\t\r"


def spreadsheet_safe(text: str) -> str:
    """A spreadsheet runs a cell starting with = + - @ (or a tab or CR before one) as a formula:
    such text gets a leading apostrophe, which spreadsheets show as text and do not run."""
    if text and text[0] in FORMULA_STARTS:
        return f"'{text}"
    return text
