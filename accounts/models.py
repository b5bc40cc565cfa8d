import zoneinfo
from datetime import datetime

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.plans import Feature, Plan, plan_has


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not a known time zone."), params={"value": value})


class Account(models.Model):
    """A tenant: one company's CRM. Every CRM row, bin entry, event and snapshot belongs to one."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    plan = models.CharField(_("plan"), max_length=20, choices=Plan.choices, default=Plan.FREE)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Europe/Berlin", validators=[validate_time_zone]
    )
    maintenance = models.BooleanField(
        _("in maintenance"),
        default=False,
        help_text=_("Set while a rollback runs: writes are refused with 503 until it ends."),
    )
    require_2fa_for_admins = models.BooleanField(
        _("two-factor authentication required for admins"),
        default=False,
        help_text=_(
            "Admins of this account must set up two-factor authentication before they use it."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def has_feature(self, feature: Feature) -> bool:
        return plan_has(self.plan, feature)


class AccountScopedQuerySet(models.QuerySet):
    """Every read of tenant data starts here: ``Model.objects.for_account(account)``."""

    def for_account(self, account: Account) -> "AccountScopedQuerySet":
        return self.filter(account=account)


class User(AbstractUser):
    """Either a member of one account (admin or employee), support staff (vendor side, no
    account), or an operator (no account, Django admin only)."""

    class Role(models.TextChoices):
        ADMIN = "admin", _("Admin")
        EMPLOYEE = "employee", _("Employee")

    account = models.ForeignKey(
        Account,
        verbose_name=_("account"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="users",
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, blank=True)
    is_support = models.BooleanField(
        _("support staff"),
        default=False,
        help_text=_("Vendor staff: reach accounts only through the support console."),
    )
    # API tokens issued before it no longer authenticate (accounts.authentication): a new
    # password ends every token however it was set (by the user, an operator, a command).
    password_changed_at = models.DateTimeField(_("password changed"), null=True, editable=False)

    objects = UserManager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="user_member_or_support",
                condition=(
                    Q(account__isnull=False, is_support=False, role__in=["admin", "employee"])
                    | Q(account__isnull=True, role="")
                ),
                violation_error_message=_(
                    "An account member needs a role; support staff and operators have no account."
                ),
            ),
        ]

    def set_password(self, raw_password: str | None) -> None:
        super().set_password(raw_password)
        self.password_changed_at = timezone.now()

    def token_predates_password(self, token_created: datetime) -> bool:
        """Whether a token made at ``token_created`` was issued before the current password."""
        return self.password_changed_at is not None and token_created < self.password_changed_at

    @property
    def is_account_member(self) -> bool:
        return self.account_id is not None

    @property
    def is_account_admin(self) -> bool:
        return self.account_id is not None and self.role == self.Role.ADMIN


class TokenSecondFactor(models.Model):
    """The second factor an API token was issued with (accounts.api.TokenObtainView): a token
    counts as verified for as long as that device is the user's and confirmed. Tokens made any
    other way (the admin, ``drf_create_token``) have none, so they do not pass for support
    staff or anyone else who needs a second factor."""

    token = models.OneToOneField(
        "authtoken.Token",
        on_delete=models.CASCADE,  # revoking the token revokes this with it
        primary_key=True,
        related_name="second_factor",
    )
    device_id = models.CharField(max_length=255, help_text="django-otp's persistent id.")
    verified_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.token.user_id}: {self.device_id}"


class EnrollmentLink(models.Model):
    """A one-time, expiring link that lets support staff set up their two-factor
    authentication (accounts.enrollment): only the person the operator handed it to can enrol,
    not whoever learns an initial password. Only a hash of the link's key is kept."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="enrollment_links")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user_id}: until {self.expires_at:%Y-%m-%d %H:%M}"


class UpgradeRequest(models.Model):
    """An account admin asked for a higher plan (from the pricing page); operators see it in
    the Django admin and by email, change the account's plan and mark it handled."""

    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.CASCADE, related_name="+"
    )
    plan = models.CharField(_("plan asked for"), max_length=20, choices=Plan.choices)
    requested_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("requested by"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("asked at"), default=timezone.now)
    handled_at = models.DateTimeField(_("handled at"), null=True, blank=True)

    class Meta:
        verbose_name = _("upgrade request")
        verbose_name_plural = _("upgrade requests")
        ordering = ["-created_at", "-id"]
        constraints = [
            # Asking twice for the same plan is one request (accounts.services).
            models.UniqueConstraint(
                fields=["account", "plan"],
                condition=Q(handled_at__isnull=True),
                name="accounts_one_open_upgrade_per_plan",
            )
        ]

    def __str__(self) -> str:
        return f"{self.account} -> {self.plan}"
