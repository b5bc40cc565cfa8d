"""Numbers in the sentences the product writes for people (messages, job progress)."""

from django.utils.formats import number_format


def grouped(value: int) -> str:
    """``12,345`` (``12.345`` in German): a count, with the language's thousands separator."""
    return number_format(value, force_grouping=True)
