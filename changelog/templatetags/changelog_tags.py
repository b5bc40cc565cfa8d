"""``{% open_alerts as alerts %}``: the account's alerts no admin acknowledged yet, newest first
(at most three), for the banner on every page: one indexed query, for admins only."""

from django import template

from accounts.plans import Feature, plan_has

register = template.Library()


@register.simple_tag(takes_context=True)
def open_alerts(context) -> list:
    user = getattr(context.get("request"), "user", None)
    if user is None or not user.is_authenticated or not user.is_account_admin:
        return []
    if not plan_has(user.account.plan, Feature.CHANGE_ALERTS):
        return []  # no alerts on this plan: no query
    from changelog.selectors import alerts_open  # the app's models load after the templates'

    return alerts_open(account=user.account, most=3)
