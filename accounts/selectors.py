from accounts.models import Account, User


def account_members(*, account: Account):
    """The account's active users, for pickers and filters (never another account's)."""
    return User.objects.filter(account=account, is_active=True).order_by("username")


def account_get_by_name(*, name: str) -> Account:
    return Account.objects.get(name=name)
