"""Domain rule violations: one exception family, turned into ``{detail, code}`` by the API's
exception handler (config.api.errors) and into an error page by accounts.middleware."""

from django.utils.translation import gettext as _

from accounts.plans import Feature, plan_has

# Machine code -> HTTP status. API.md's rule codes, plus the generic ones the product uses.
RULE_STATUS = {
    "plan_not_eligible": 403,
    "admin_only": 403,
    "support_only": 403,
    "account_required": 403,
    "weekly_limit": 409,
    "request_open": 409,
    "invalid_state": 409,
    "parent_in_bin": 409,
    "outside_retention": 400,
    "invalid": 400,
    "maintenance": 503,
}

MAINTENANCE_RETRY_AFTER_SECONDS = 60


class RuleViolation(Exception):
    """A rule of DESIGN.md refused an action. Nothing was changed."""

    def __init__(self, *, code: str, message: str) -> None:
        if code not in RULE_STATUS:
            raise ValueError(f"unknown rule code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return RULE_STATUS[self.code]

    @property
    def headers(self) -> dict[str, str]:
        if self.code == "maintenance":
            return {"Retry-After": str(MAINTENANCE_RETRY_AFTER_SECONDS)}
        return {}


def plan_require(*, account, feature: Feature) -> None:
    if not plan_has(account.plan, feature):
        raise RuleViolation(
            code="plan_not_eligible",
            message=_("Your plan (%(plan)s) does not include this. See the pricing page.")
            % {"plan": account.get_plan_display()},
        )


def admin_require(*, user) -> None:
    if not user.is_account_admin:
        raise RuleViolation(code="admin_only", message=_("Only account admins may do this."))


def account_writable_require(*, account) -> None:
    """Writes wait while the account is in maintenance (a rollback is running)."""
    if account.maintenance:
        raise RuleViolation(
            code="maintenance",
            message=_(
                "This account is being restored from a backup. Changes are paused; "
                "please try again in a minute."
            ),
        )
