from urllib.parse import quote

import django_otp
from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views import View
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token

from accounts import enrollment, two_factor
from accounts.models import UpgradeRequest
from accounts.plans import FEATURE_LABELS, PLAN_CATALOG, Feature, Plan
from accounts.services import upgrade_request
from core.errors import RuleViolation


def pricing(request):
    """Public: the plans, what each includes and adds to the one before (accounts.plans is
    the one source); an account's admin may ask for a higher plan here."""
    # One row per feature, one cell per plan: PLAN_CATALOG turned on its side.
    per_plan = [offer.feature_rows() for offer in PLAN_CATALOG]
    feature_table = [
        (cells[0][0], [included for _, included in cells]) for cells in zip(*per_plan, strict=True)
    ]
    user = request.user
    account = getattr(user, "account", None) if user.is_authenticated else None
    order = [offer.plan.value for offer in PLAN_CATALOG]
    asked = (
        dict(
            UpgradeRequest.objects.filter(account=account, handled_at__isnull=True).values_list(
                "plan", "created_at"
            )
        )
        if account is not None
        else {}
    )
    offers = []
    for index, offer in enumerate(PLAN_CATALOG):
        before = PLAN_CATALOG[index - 1].features if index else frozenset()
        offers.append(
            {
                "offer": offer,
                "adds": [str(FEATURE_LABELS[f]) for f in Feature if f in offer.features - before],
                "upgrade": account is not None
                and user.is_account_admin
                and order.index(offer.plan) > order.index(account.plan),
                "asked_at": asked.get(offer.plan.value),
            }
        )
    return render(
        request, "accounts/pricing.html", {"feature_table": feature_table, "offers": offers}
    )


@login_required
@require_POST
def upgrade(request):
    """An admin asks for a higher plan (accounts.services.upgrade_request); back to pricing."""
    try:
        upgrade_request(user=request.user, plan=request.POST.get("plan", ""))
    except RuleViolation as violation:
        messages.error(request, violation.message)
    else:
        messages.success(
            request,
            _(
                "Your request for the %(plan)s plan was sent to the operators. They change the "
                "plan and tell you; nothing changes until then."
            )
            % {"plan": Plan(request.POST["plan"]).label},
        )
    return redirect("pricing")


@login_required
def home(request):
    if request.user.is_account_member:
        return redirect("crm:dashboard")
    if request.user.is_support:
        return redirect("support:console")
    if request.user.is_staff:
        return redirect("admin:index")
    return render(request, "accounts/no_account.html")


# --- Two-factor authentication and the Security page ------------------------------------------


def _next_url(request) -> str:
    """Where to go after the second factor: the ``next`` asked for, if it is on this site."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url("home")


class SecondFactorCodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=32,
        strip=True,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}
        ),
    )


SENSITIVE_CODE = method_decorator(sensitive_post_parameters("code"), name="dispatch")


@SENSITIVE_CODE
class TwoFactorVerifyView(LoginRequiredMixin, View):
    """After the password: the current code of the authenticator app, or a recovery code."""

    template_name = "accounts/two_factor_verify.html"

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated:
            if two_factor.second_factor_verified(user):
                return redirect(_next_url(request))
            if not two_factor.second_factor_enrolled(user):
                # Nothing to verify: set it up first if it is required, else carry on.
                if two_factor.second_factor_required(user):
                    return redirect(two_factor.second_factor_url(user, _next_url(request)))
                return redirect(_next_url(request))
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        return self.page(SecondFactorCodeForm())

    def post(self, request):
        form = SecondFactorCodeForm(request.POST)
        device = None
        if form.is_valid():
            device = two_factor.second_factor_match(
                user=request.user, code=form.cleaned_data["code"]
            )
            if device is None:
                form.add_error(
                    "code",
                    _(
                        "That code is not valid. Enter the code your authenticator app shows "
                        "now, or one of your recovery codes."
                    ),
                )
        if device is None:
            return self.page(form, status=400)
        request.session.cycle_key()
        django_otp.login(request, device)
        if not isinstance(device, TOTPDevice):
            left = two_factor.recovery_codes_left(request.user)
            messages.warning(
                request,
                ngettext(
                    "You used a recovery code; %(count)s is left. Make new ones on the "
                    "Security page.",
                    "You used a recovery code; %(count)s are left. Make new ones on the "
                    "Security page.",
                    left,
                )
                % {"count": left},
            )
        return redirect(_next_url(request))

    def page(self, form, *, status=200):
        return render(
            self.request,
            self.template_name,
            {"form": form, "next": _next_url(self.request)},
            status=status,
        )


@SENSITIVE_CODE
class TwoFactorSetupView(LoginRequiredMixin, View):
    """Enrolment: scan the QR code (or type the key), confirm with the code the app shows; the
    recovery codes follow, once. Replacing an authenticator takes the old one first."""

    template_name = "accounts/two_factor_setup.html"

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if (
            user.is_authenticated
            and two_factor.second_factor_enrolled(user)
            and not two_factor.second_factor_verified(user)
        ):
            return redirect(two_factor.second_factor_url(user, _next_url(request)))
        if (
            user.is_authenticated
            and not two_factor.second_factor_enrolled(user)
            and not enrollment.enrollment_allows_setup(request, user)
        ):
            # Support staff enrol through their link only, never on a password alone.
            return render(request, "accounts/enrollment_required.html", status=403)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        return self.page(SecondFactorCodeForm())

    def post(self, request):
        form = SecondFactorCodeForm(request.POST)
        codes = None
        device = two_factor.totp_device_pending(user=request.user)
        if form.is_valid():
            codes = two_factor.totp_enrol_confirm(
                user=request.user, device=device, code=form.cleaned_data["code"]
            )
            if codes is None:
                form.add_error(
                    "code",
                    _(
                        "That code does not match. Check that the app shows this account, "
                        "and enter the code it shows now."
                    ),
                )
        if codes is None:
            return self.page(form, status=400)
        device.refresh_from_db()
        request.session.cycle_key()
        django_otp.login(request, device)
        request.session[RECOVERY_CODES_SESSION_KEY] = codes
        messages.success(request, _("Two-factor authentication is on."))
        return redirect(
            f"{reverse('two_factor_recovery_codes')}?{urlencode({'next': _next_url(request)})}"
        )

    def page(self, form, *, status=200):
        device = two_factor.totp_device_pending(user=self.request.user)
        response = render(
            self.request,
            self.template_name,
            {
                "form": form,
                "next": _next_url(self.request),
                "otpauth_uri": device.config_url,
                "qr_svg": mark_safe(two_factor.totp_qr_svg(device)),  # noqa: S308 - segno's own SVG
                "secret": two_factor.totp_secret(device),
                "required": two_factor.second_factor_required(self.request.user),
                "replacing": two_factor.second_factor_enrolled(self.request.user),
            },
            status=status,
        )
        response["Cache-Control"] = "no-store"  # the key is on it
        return response


RECOVERY_CODES_SESSION_KEY = "two_factor_new_recovery_codes"


@method_decorator(sensitive_post_parameters("new_password1", "new_password2"), name="dispatch")
class EnrollmentView(View):
    """A support user's enrolment link: choose a password, then set up the authenticator app
    in the same session. The link works once, until it expires."""

    template_name = "accounts/enrollment.html"

    def dispatch(self, request, *args, **kwargs):
        self.link = enrollment.enrollment_link_find(key=kwargs["key"])
        if self.link is None:
            return render(request, "accounts/enrollment_invalid.html", status=404)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, key):
        return self.page(SetPasswordForm(self.link.user))

    def post(self, request, key):
        form = SetPasswordForm(self.link.user, request.POST)
        if not form.is_valid():
            return self.page(form, status=400)
        try:
            user = enrollment.enrollment_link_use(
                key=key, password=form.cleaned_data["new_password1"]
            )
        except RuleViolation:  # spent meanwhile, in another tab
            return render(request, "accounts/enrollment_invalid.html", status=404)
        login(request, user, backend="accounts.authentication.AccountModelBackend")
        request.session[enrollment.SESSION_KEY] = user.pk
        return redirect(f"{reverse('two_factor_setup')}?{urlencode({'next': reverse('home')})}")

    def page(self, form, *, status=200):
        response = render(
            self.request,
            self.template_name,
            {"form": form, "username": self.link.user.username},
            status=status,
        )
        response["Cache-Control"] = "no-store"
        return response


class TwoFactorRecoveryCodesView(LoginRequiredMixin, View):
    """The new recovery codes, shown once (they leave the session as the page is shown)."""

    def get(self, request):
        codes = request.session.pop(RECOVERY_CODES_SESSION_KEY, None)
        if not codes:
            return redirect("security")
        text = "\n".join(codes) + "\n"
        response = render(
            request,
            "accounts/two_factor_recovery_codes.html",
            {
                "codes": codes,
                "next": _next_url(request),
                # Saved as a file without a second request (the codes are not kept).
                "download_href": "data:text/plain;charset=utf-8," + quote(text),
            },
        )
        response["Cache-Control"] = "no-store"
        return response


class SecurityView(LoginRequiredMixin, View):
    """Two-factor authentication (set up, replace, new recovery codes, turn off), the API token
    (revoke), and for account admins whether the account requires 2FA of its admins."""

    def get(self, request):
        user = request.user
        token = Token.objects.filter(user=user).first()
        return render(
            request,
            "accounts/security.html",
            {
                "nav": "security",
                "enrolled": two_factor.second_factor_enrolled(user),
                "required": two_factor.second_factor_required(user),
                "recovery_left": two_factor.recovery_codes_left(user),
                "token": token,
                "token_verified": token is not None
                and two_factor.token_verified_device(token) is not None,
                "account": user.account if user.is_account_admin else None,
            },
        )

    def post(self, request):
        user = request.user
        action = request.POST.get("action")
        try:
            if action == "recovery_codes" and two_factor.second_factor_enrolled(user):
                request.session[RECOVERY_CODES_SESSION_KEY] = two_factor.recovery_codes_renew(
                    user=user
                )
                messages.success(request, _("New recovery codes are made; the old ones are void."))
                return redirect(
                    f"{reverse('two_factor_recovery_codes')}?next={reverse('security')}"
                )
            if action == "disable":
                two_factor.second_factor_remove(user=user)
                request.session.pop(django_otp.DEVICE_ID_SESSION_KEY, None)
                messages.success(request, _("Two-factor authentication is off."))
            elif action == "revoke_token":
                if two_factor.token_revoke(user=user):
                    messages.success(request, _("Your API token is revoked."))
            elif action in ("require", "unrequire") and user.is_account_member:
                two_factor.account_require_second_factor(
                    account=user.account, actor=user, required=action == "require"
                )
                messages.success(
                    request,
                    _("Every admin of the account now needs two-factor authentication.")
                    if action == "require"
                    else _("Two-factor authentication is optional for the account's admins."),
                )
        except RuleViolation as violation:
            messages.error(request, violation.message)
        return redirect("security")
