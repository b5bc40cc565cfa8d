"""API bodies every app shares: the error every refusal has, a reference to a user."""

from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """Every refusal: a sentence for people and a code for programs."""

    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="Only on validation errors (400): the messages per field.",
    )


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
