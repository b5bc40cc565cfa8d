"""``{% unread_notifications as count %}``: the caller's unread notifications, for the nav's
badge on every page (one COUNT query, only for users who get notifications)."""

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_notifications(context) -> int:
    user = getattr(context.get("request"), "user", None)
    if user is None or not user.is_authenticated:
        return 0
    if not (user.is_support or user.is_account_member):
        return 0
    from support.selectors import unread_count  # the app's models load after the templates'

    return unread_count(user=user)
