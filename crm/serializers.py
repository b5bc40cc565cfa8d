from django.db import models
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.filters import ID_SCHEMA, MAX_ID
from core.api.serializers import AmountField, BodyModelSerializer
from crm import services
from crm.entities import ENTITIES, Entity
from crm.models import ACTIVITY_PARENTS, Activity, Company, Contact, Deal, Lead

COMMON_FIELDS = ("id", "created_at", "updated_at")


@extend_schema_field(ID_SCHEMA)
class AccountRecordField(serializers.PrimaryKeyRelatedField):
    """A link to another record, by id, that accepts only records of the caller's account:
    another account's id is answered exactly like a missing one."""

    def __init__(self, model, **kwargs):
        self.model = model
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.model.objects.for_account(self.context["request"].user.account)

    def to_internal_value(self, data):
        # The database would truncate 1.5 to id 1: a fraction is no id.
        if isinstance(data, float) and not data.is_integer():
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            if isinstance(data, int | float) and not 1 <= data <= MAX_ID:
                self.fail("does_not_exist", pk_value=data)  # no query: it would overflow
            return super().to_internal_value(data)
        except serializers.ValidationError as error:
            if error.get_codes() != ["does_not_exist"]:
                raise
            message = _("There is no %(record)s with id %(id)s in your account.") % {
                "record": self.model._meta.verbose_name,
                "id": data,
            }
            raise serializers.ValidationError(message, code="does_not_exist") from None


class RecordSerializer(BodyModelSerializer):
    """Writes go through crm.services, so the API keeps the same rules as the browser."""

    entity: Entity
    serializer_field_mapping = {
        **BodyModelSerializer.serializer_field_mapping,
        models.DecimalField: AmountField,  # every sum of money
    }

    def create(self, validated_data):
        request = self.context["request"]
        return services.record_create(
            account=request.user.account,
            actor=request.user,
            entity=self.entity,
            data=validated_data,
        )

    def update(self, instance, validated_data):
        services.record_update(
            record=instance, actor=self.context["request"].user, data=validated_data
        )
        return instance


class CompanySerializer(RecordSerializer):
    entity = ENTITIES["company"]

    class Meta:
        model = Company
        fields = (
            *COMMON_FIELDS,
            "title",
            "industry",
            "phone",
            "email",
            "website",
            "address",
            "comments",
        )


class ContactSerializer(RecordSerializer):
    entity = ENTITIES["contact"]
    company = AccountRecordField(Company)

    class Meta:
        model = Contact
        fields = (
            *COMMON_FIELDS,
            "first_name",
            "last_name",
            "email",
            "phone",
            "position",
            "company",
        )


class LeadSerializer(RecordSerializer):
    entity = ENTITIES["lead"]

    class Meta:
        model = Lead
        fields = (
            *COMMON_FIELDS,
            "title",
            "status",
            "source",
            "first_name",
            "last_name",
            "email",
            "phone",
            "amount",
        )


class DealSerializer(RecordSerializer):
    entity = ENTITIES["deal"]
    company = AccountRecordField(Company)
    contact = AccountRecordField(Contact)

    class Meta:
        model = Deal
        fields = (
            *COMMON_FIELDS,
            "title",
            "stage",
            "amount",
            "currency",
            "company",
            "contact",
            "close_date",
        )


class ActivitySerializer(RecordSerializer):
    entity = ENTITIES["activity"]
    lead = AccountRecordField(Lead)
    deal = AccountRecordField(Deal)
    contact = AccountRecordField(Contact)
    company = AccountRecordField(Company)

    class Meta:
        model = Activity
        fields = (
            *COMMON_FIELDS,
            "subject",
            "type",
            "description",
            "due_at",
            "completed",
            *ACTIVITY_PARENTS,
        )

    def validate(self, attrs):
        parents = {
            name: attrs[name] if name in attrs else getattr(self.instance, name, None)
            for name in ACTIVITY_PARENTS
        }
        chosen = [name for name, value in parents.items() if value is not None]
        if len(chosen) != 1:
            raise serializers.ValidationError(
                _(
                    "An activity belongs to exactly one of lead, deal, contact or company "
                    "(given: %(given)s)."
                )
                % {"given": ", ".join(chosen) or _("none")},
                code="activity_parent",
            )
        return attrs


SERIALIZERS: dict[str, type[RecordSerializer]] = {
    s.entity.type.value: s
    for s in (
        CompanySerializer,
        ContactSerializer,
        LeadSerializer,
        DealSerializer,
        ActivitySerializer,
    )
}
