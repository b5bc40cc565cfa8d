from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render


def pricing(request):
    """Public: the plans and what each includes (accounts.plans is the one source)."""
    return render(request, "accounts/pricing.html")


@login_required
def home(request):
    if request.user.is_account_member:
        return redirect("crm:dashboard")
    if request.user.is_staff:
        return redirect("admin:index")
    return render(request, "accounts/no_account.html")
