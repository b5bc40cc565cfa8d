"""Revert: undo chosen changes of the history (DESIGN.md, "Undo and point in time"; API.md,
"Change log").

A selection is a set of history events on CRM records (the history's filters, or ticked
events). For each record they touch, the revert works out the state the record had just
before the first selected event, from the events alone:

- **whether it existed**: before a ``create`` it did not; before a ``delete`` or an ``update``
  it was live; before a bin ``restore`` or a ``purge`` it was in the bin (a revert brings a
  purged record back live: the bin entry is gone, the record is what the user wants back);
  a restore's or a revert's own per-record events say what they did (``details.action``);
- **each field's value**: the old value of the first selected change of that field.

Then it compares with the record now. A create goes back to the bin, a delete comes back
(from the bin, or recreated from its purge image), an update's fields go back; links follow
through the recycle bin's own rules. Non-destructive by default: a field that a later event
outside the selection changed again is a **conflict** and left as it is; so is a record that
would go to the bin or come back although someone else changed it since. ``force`` (admins)
overwrites them. A link to a record that is gone can never be set back: it is a conflict even
with ``force``.

Applied in one transaction, the records locked and the plan worked out again under the lock,
each record changed gets one ``revert`` event whose ``details.action`` says what it did
(``updated``, ``recreated``, ``restored``, ``binned``) and whose ``changes`` say how, so a
revert can itself be reverted."""

from changelog.revert.apply import revert_apply, revert_preview
from changelog.revert.plan import (
    BIN,
    GONE,
    LIVE,
    RECORD,
    FieldRevert,
    RecordRevert,
    RevertPlan,
    revert_plan,
)
from changelog.revert.selection import (
    MAX_EVENTS,
    batches,
    revert_job_threshold,
    revert_selection,
    revertable,
)

__all__ = [
    "BIN",
    "GONE",
    "LIVE",
    "MAX_EVENTS",
    "RECORD",
    "FieldRevert",
    "RecordRevert",
    "RevertPlan",
    "batches",
    "revert_apply",
    "revert_job_threshold",
    "revert_plan",
    "revert_preview",
    "revert_selection",
    "revertable",
]
