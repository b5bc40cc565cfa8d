"""What the revert's tests share: deals one user made and another changed."""

from decimal import Decimal

from crm import services as crm_services
from crm.entities import ENTITIES
from crm.models import Deal


def deals_edited(account, author, editor, count: int = 3) -> list[Deal]:
    """``count`` deals of 10.00 by ``author``, then ``editor`` sets each one's amount to 0.01."""
    deals = [
        crm_services.record_create(
            account=account,
            actor=author,
            entity=ENTITIES["deal"],
            data={"title": f"Deal {i}", "amount": Decimal("10.00")},
        )
        for i in range(count)
    ]
    for deal in deals:
        crm_services.record_update(record=deal, actor=editor, data={"amount": Decimal("0.01")})
    return deals


def amounts(deals) -> set[Decimal]:
    """The deals' amounts now."""
    return set(Deal.objects.filter(pk__in=[d.pk for d in deals]).values_list("amount", flat=True))
