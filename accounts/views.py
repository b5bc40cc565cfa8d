from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from accounts.plans import PLAN_CATALOG


def pricing(request):
    """Public: the plans and what each includes (accounts.plans is the one source)."""
    # One row per feature, one cell per plan: PLAN_CATALOG turned on its side.
    per_plan = [offer.feature_rows() for offer in PLAN_CATALOG]
    feature_table = [
        (cells[0][0], [included for _, included in cells]) for cells in zip(*per_plan, strict=True)
    ]
    return render(request, "accounts/pricing.html", {"feature_table": feature_table})


@login_required
def home(request):
    if request.user.is_account_member:
        return redirect("crm:dashboard")
    if request.user.is_support:
        return redirect("support:console")
    if request.user.is_staff:
        return redirect("admin:index")
    return render(request, "accounts/no_account.html")
