"""Domain rule violations: one exception family, turned into ``{detail, code}`` by the API's
exception handler (core.api.errors) and into an error page by accounts.middleware."""

# Machine code -> HTTP status. API.md's rule codes, plus the generic ones the product uses.
RULE_STATUS = {
    "not_found": 404,  # missing, another account's, or gone meanwhile (lost a race): all alike
    "plan_not_eligible": 403,
    "admin_only": 403,
    "own_only": 403,  # employees undo only their own changes
    "support_only": 403,
    "account_required": 403,
    "weekly_limit": 409,
    "request_open": 409,
    "nothing_to_undo": 409,  # an undo with no completed restore in the last 48 hours
    "invalid_state": 409,
    "parent_in_bin": 409,
    "snapshot_invalid": 409,  # a snapshot file that does not read back whole
    "snapshot_recent": 429,  # a snapshot on demand at most once an hour (Retry-After)
    "outside_retention": 400,
    "invalid": 400,
    "maintenance": 503,
}

MAINTENANCE_RETRY_AFTER_SECONDS = 60


class RuleViolation(Exception):
    """A rule of DESIGN.md refused an action. Nothing was changed."""

    def __init__(self, *, code: str, message: str, retry_after: int | None = None) -> None:
        if code not in RULE_STATUS:
            raise ValueError(f"unknown rule code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after  # seconds, sent as Retry-After

    @property
    def status(self) -> int:
        return RULE_STATUS[self.code]

    @property
    def headers(self) -> dict[str, str]:
        if self.code == "maintenance":
            return {"Retry-After": str(MAINTENANCE_RETRY_AFTER_SECONDS)}
        if self.retry_after is not None:
            return {"Retry-After": str(self.retry_after)}
        return {}
