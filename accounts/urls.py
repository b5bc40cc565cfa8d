from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("login/two-factor/", views.TwoFactorVerifyView.as_view(), name="two_factor_verify"),
    path("security/two-factor/", views.TwoFactorSetupView.as_view(), name="two_factor_setup"),
    path(
        "security/recovery-codes/",
        views.TwoFactorRecoveryCodesView.as_view(),
        name="two_factor_recovery_codes",
    ),
    path("security/", views.SecurityView.as_view(), name="security"),
    path("enroll/<str:key>/", views.EnrollmentView.as_view(), name="enrollment"),
    path("pricing/", views.pricing, name="pricing"),
    path("pricing/upgrade/", views.upgrade, name="upgrade"),
    path("", views.home, name="home"),
]
