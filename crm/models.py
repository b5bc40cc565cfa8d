"""The CRM's records. Data and invariants only: every change goes through crm.services."""

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Concat, Upper
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, AccountScopedQuerySet


class RecordQuerySet(AccountScopedQuerySet):
    def for_account(self, account: Account) -> "RecordQuerySet":
        """The account's live records: what sits in the recycle bin is hidden everywhere."""
        return super().for_account(account).filter(bin_entry__isnull=True)

    def in_bin(self, *, account: Account, entry_ids) -> "RecordQuerySet":
        """The account's records held by these recycle bin entries."""
        return self.filter(account=account, bin_entry__in=entry_ids)


class CrmRecord(models.Model):
    """What every CRM record has: its account, who made it, when, and whether it is in the
    recycle bin (``bin_entry`` set: hidden everywhere, same id when restored)."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+", db_index=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    bin_entry = models.ForeignKey(
        "recyclebin.BinEntry",
        on_delete=models.PROTECT,  # a purge deletes the records first, then their entry
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        db_index=False,  # see in_bin_index(): only the few rows in the bin are indexed
    )

    objects = RecordQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.title_text

    @property
    def title_text(self) -> str:
        """How the record is named in lists, the recycle bin and the history."""
        raise NotImplementedError


def newest_first_index(model_name: str) -> models.Index:
    # Lists are per account, newest first (ORDER BY id DESC): one B-tree serves the filter and
    # the order, also for keyset (cursor) pages deep in the list.
    return models.Index(fields=["account", "-id"], name=f"{model_name}_account_newest")


def in_bin_index(model_name: str) -> models.Index:
    # Restore and purge find an entry's rows; live rows (nearly all) stay out of this index.
    return models.Index(
        fields=["bin_entry"], name=f"{model_name}_in_bin", condition=Q(bin_entry__isnull=False)
    )


# Between the fields of a search column, so that a word matches within one field, as it would
# field by field (a word holding it is searched field by field: crm.selectors.records_search).
SEARCH_SEPARATOR = "\n"


def _one_per_line(*names: str) -> list:
    parts: list = []
    for name in names:
        parts += [Value(SEARCH_SEPARATOR), name] if parts else [name]
    return parts


class Company(CrmRecord):
    title = models.CharField(_("name"), max_length=255)
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    email = models.EmailField(_("email"), blank=True)
    website = models.URLField(_("website"), max_length=255, blank=True)
    address = models.TextField(_("address"), blank=True)
    comments = models.TextField(_("comments"), blank=True)

    class Meta(CrmRecord.Meta):
        verbose_name = _("company")
        verbose_name_plural = _("companies")
        indexes = [
            newest_first_index("company"),
            in_bin_index("company"),
            models.Index(fields=["account", "title"], name="company_account_title"),
        ]

    @property
    def title_text(self) -> str:
        return self.title


class Contact(CrmRecord):
    first_name = models.CharField(_("first name"), max_length=100)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    position = models.CharField(_("position"), max_length=100, blank=True)
    company = models.ForeignKey(
        Company,
        verbose_name=_("company"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contacts",
    )
    # What a search looks in (crm.selectors.records_search): the searched fields in capitals,
    # one per line, kept by the database. One column with one trigram index (PostgreSQL) costs
    # a search a fifth of four UPPER(...) LIKEs per row (bench/README.md).
    search = models.GeneratedField(
        expression=Upper(
            Concat(
                *_one_per_line("first_name", "last_name", "email", "phone"),
                output_field=models.TextField(),
            )
        ),
        output_field=models.TextField(),
        db_persist=True,
    )

    class Meta(CrmRecord.Meta):
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        indexes = [
            newest_first_index("contact"),
            in_bin_index("contact"),
            models.Index(
                fields=["account", "last_name", "first_name"], name="contact_account_name"
            ),
        ]

    @property
    def title_text(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Lead(CrmRecord):
    class Status(models.TextChoices):
        NEW = "new", _("New")
        IN_PROGRESS = "in_progress", _("In progress")
        QUALIFIED = "qualified", _("Qualified")
        CONVERTED = "converted", _("Converted")
        JUNK = "junk", _("Junk")

    class Source(models.TextChoices):
        CALL = "call", _("Call")
        EMAIL = "email", _("Email")
        WEBSITE = "website", _("Website")
        ADVERTISING = "advertising", _("Advertising")
        PARTNER = "partner", _("Partner")
        TRADE_SHOW = "trade_show", _("Trade show")
        OTHER = "other", _("Other")

    title = models.CharField(_("title"), max_length=255)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.NEW
    )
    source = models.CharField(_("source"), max_length=20, choices=Source.choices, blank=True)
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    amount = models.DecimalField(
        _("amount"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )

    class Meta(CrmRecord.Meta):
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        indexes = [
            newest_first_index("lead"),
            in_bin_index("lead"),
            models.Index(fields=["account", "status"], name="lead_account_status"),
        ]

    @property
    def title_text(self) -> str:
        return self.title


class Deal(CrmRecord):
    class Stage(models.TextChoices):
        NEW = "new", _("New")
        PREPARATION = "preparation", _("Preparing documents")
        PROPOSAL = "proposal", _("Proposal sent")
        NEGOTIATION = "negotiation", _("Negotiation")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    title = models.CharField(_("title"), max_length=255)
    stage = models.CharField(_("stage"), max_length=20, choices=Stage.choices, default=Stage.NEW)
    amount = models.DecimalField(
        _("amount"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    currency = models.CharField(
        _("currency"),
        max_length=3,
        default="EUR",
        validators=[RegexValidator(r"^[A-Z]{3}$", _("Use a three-letter ISO code such as EUR."))],
    )
    company = models.ForeignKey(
        Company,
        verbose_name=_("company"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deals",
    )
    contact = models.ForeignKey(
        Contact,
        verbose_name=_("contact"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deals",
    )
    close_date = models.DateField(_("close date"), null=True, blank=True)

    class Meta(CrmRecord.Meta):
        verbose_name = _("deal")
        verbose_name_plural = _("deals")
        indexes = [
            newest_first_index("deal"),
            in_bin_index("deal"),
            models.Index(fields=["account", "stage"], name="deal_account_stage"),
        ]

    @property
    def title_text(self) -> str:
        return self.title


ACTIVITY_PARENTS = ("lead", "deal", "contact", "company")


def _exactly_one_parent() -> Q:
    condition = Q()
    for parent in ACTIVITY_PARENTS:
        others = {f"{other}__isnull": True for other in ACTIVITY_PARENTS if other != parent}
        condition |= Q(**{f"{parent}__isnull": False}, **others)
    return condition


class Activity(CrmRecord):
    class Type(models.TextChoices):
        CALL = "call", _("Call")
        MEETING = "meeting", _("Meeting")
        EMAIL = "email", _("Email")
        TASK = "task", _("Task")

    subject = models.CharField(_("subject"), max_length=255)
    type = models.CharField(_("type"), max_length=10, choices=Type.choices)
    description = models.TextField(_("description"), blank=True)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    completed = models.BooleanField(_("completed"), default=False)
    lead = models.ForeignKey(
        Lead,
        verbose_name=_("lead"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="activities",
    )
    deal = models.ForeignKey(
        Deal,
        verbose_name=_("deal"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="activities",
    )
    contact = models.ForeignKey(
        Contact,
        verbose_name=_("contact"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="activities",
    )
    company = models.ForeignKey(
        Company,
        verbose_name=_("company"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="activities",
    )

    class Meta(CrmRecord.Meta):
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        indexes = [newest_first_index("activity"), in_bin_index("activity")]
        constraints = [
            models.CheckConstraint(
                name="activity_exactly_one_parent",
                condition=_exactly_one_parent(),
                violation_error_message=_(
                    "An activity belongs to exactly one lead, deal, contact or company."
                ),
            ),
        ]

    @property
    def title_text(self) -> str:
        return self.subject

    @property
    def parent(self) -> CrmRecord | None:
        for name in ACTIVITY_PARENTS:
            if getattr(self, f"{name}_id") is not None:
                return getattr(self, name)
        return None
