from accounts.plans import PLAN_CATALOG, PLAN_FEATURES, Feature


def tenancy(request):
    """The caller's account and what its plan includes, for every template."""
    user = getattr(request, "user", None)
    account = getattr(user, "account", None) if user and user.is_authenticated else None
    features = PLAN_FEATURES[account.plan] if account else frozenset()
    return {
        "current_account": account,
        "plan_features": {f.value: f in features for f in Feature},
        "PLAN_CATALOG": PLAN_CATALOG,
    }
