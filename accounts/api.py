from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import AllowAny


class TokenObtainView(ObtainAuthToken):
    """``POST /api/v1/auth/token/`` ``{username, password}`` -> ``{token}``."""

    permission_classes = [AllowAny]
    renderer_classes = ObtainAuthToken.renderer_classes[:1]  # JSON only

    @extend_schema(
        summary="Get an API token",
        request=inline_serializer(
            "TokenRequest",
            {"username": serializers.CharField(), "password": serializers.CharField()},
        ),
        responses={200: inline_serializer("TokenResponse", {"token": serializers.CharField()})},
        tags=["auth"],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)
