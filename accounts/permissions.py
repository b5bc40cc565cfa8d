from django.utils.translation import gettext as _
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission


class IsAccountMember(BasePermission):
    """The default for every API view: an authenticated member of an account. Support staff and
    operators have no account and reach accounts only through /api/v1/support/."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if not user.is_account_member:
            raise PermissionDenied(
                detail=_(
                    "This endpoint acts inside an account; support staff use /api/v1/support/."
                ),
                code="account_required",
            )
        return True
