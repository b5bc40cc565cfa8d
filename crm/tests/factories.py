"""factory_boy factories for the CRM records. Every factory needs an ``account``; records it links
to (a contact's company, an activity's parent) are made in that same account.

Factories write rows directly (test set-up); behaviour under test goes through crm.services or
the API."""

from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from crm.entities import ENTITIES
from crm.models import Activity, Company, Contact, Deal, Lead

SAME_ACCOUNT = factory.SelfAttribute("..account")


class RecordFactory(DjangoModelFactory):
    class Meta:
        abstract = True

    @classmethod
    def _adjust_kwargs(cls, **kwargs):
        if kwargs.get("account") is None:
            raise TypeError(f"{cls.__name__} needs an account=")
        return kwargs


class CompanyFactory(RecordFactory):
    class Meta:
        model = Company

    title = factory.Sequence(lambda n: f"Company {n}")
    industry = "Software"
    phone = factory.Sequence(lambda n: f"+49 30 {n:06d}")
    email = factory.Sequence(lambda n: f"office{n}@company.example")
    website = factory.Sequence(lambda n: f"https://company{n}.example")
    address = "Unter den Linden 1, Berlin"
    comments = ""


class ContactFactory(RecordFactory):
    class Meta:
        model = Contact

    first_name = factory.Sequence(lambda n: f"Ann{n}")
    last_name = factory.Sequence(lambda n: f"Miller{n}")
    email = factory.Sequence(lambda n: f"person{n}@contact.example")
    phone = factory.Sequence(lambda n: f"+49 40 {n:06d}")
    position = "Buyer"
    company = None

    class Params:
        with_company = factory.Trait(
            company=factory.SubFactory(CompanyFactory, account=SAME_ACCOUNT)
        )


class LeadFactory(RecordFactory):
    class Meta:
        model = Lead

    title = factory.Sequence(lambda n: f"Lead {n}")
    status = Lead.Status.NEW
    source = Lead.Source.WEBSITE
    first_name = "Bob"
    last_name = factory.Sequence(lambda n: f"Smith{n}")
    email = factory.Sequence(lambda n: f"lead{n}@lead.example")
    phone = ""
    amount = Decimal("100.00")


class DealFactory(RecordFactory):
    class Meta:
        model = Deal

    title = factory.Sequence(lambda n: f"Deal {n}")
    stage = Deal.Stage.NEW
    amount = Decimal("1000.00")
    currency = "EUR"
    company = None
    contact = None
    close_date = None

    class Params:
        linked = factory.Trait(
            company=factory.SubFactory(CompanyFactory, account=SAME_ACCOUNT),
            contact=factory.SubFactory(
                ContactFactory,
                account=SAME_ACCOUNT,
                company=factory.SelfAttribute("..company"),
            ),
        )


class ActivityFactory(RecordFactory):
    """By default on a new company of the same account; pass ``company=None`` and one other
    parent (``lead=``, ``deal=``, ``contact=``) to hang it elsewhere."""

    class Meta:
        model = Activity

    subject = factory.Sequence(lambda n: f"Activity {n}")
    type = Activity.Type.CALL
    description = ""
    due_at = None
    completed = False
    lead = None
    deal = None
    contact = None
    company = factory.SubFactory(CompanyFactory, account=SAME_ACCOUNT)


FACTORIES: dict[str, type[RecordFactory]] = {
    "company": CompanyFactory,
    "contact": ContactFactory,
    "lead": LeadFactory,
    "deal": DealFactory,
    "activity": ActivityFactory,
}


def record_make(entity_type: str, *, account, **kwargs):
    """One saved record of ``entity_type`` in ``account``."""
    return FACTORIES[entity_type](account=account, **kwargs)


def records_bulk(entity_type: str, *, account, count: int, **kwargs) -> list:
    """``count`` records in one INSERT (activities share one parent company)."""
    factory_class = FACTORIES[entity_type]
    if entity_type == "activity" and not any(
        kwargs.get(parent) for parent in ("lead", "deal", "contact", "company")
    ):
        kwargs["company"] = CompanyFactory(account=account)
    built = factory_class.build_batch(count, account=account, **kwargs)
    return factory_class._meta.model.objects.bulk_create(built)


# --- What the API tests share -------------------------------------------------------------

MODELS = {"company": Company, "contact": Contact, "lead": Lead, "deal": Deal, "activity": Activity}
# (entity type, link field) for every link between CRM records, from the registry.
LINK_FIELDS = [(t, field) for t, entity in ENTITIES.items() for field in entity.link_fields]
ENTITY_TYPES = tuple(MODELS)
API_PATHS = {
    "company": "/api/v1/companies/",
    "contact": "/api/v1/contacts/",
    "lead": "/api/v1/leads/",
    "deal": "/api/v1/deals/",
    "activity": "/api/v1/activities/",
}
# The field that names a record, and what API.md says is required on create.
TITLE_FIELDS = {
    "company": "title",
    "contact": "first_name",
    "lead": "title",
    "deal": "title",
    "activity": "subject",
}
REQUIRED_FIELDS = {
    "company": ("title",),
    "contact": ("first_name",),
    "lead": ("title",),
    "deal": ("title",),
    "activity": ("subject", "type"),
}


def detail_path(entity_type: str, record_id) -> str:
    return f"{API_PATHS[entity_type]}{record_id}/"


def api_payload(entity_type: str, *, account, variant: int = 0) -> dict:
    """A valid request body with every API.md field of ``entity_type`` set; links point to new
    records of ``account``. ``variant`` 1 gives other values (for PUT)."""
    v = variant
    if entity_type == "company":
        return {
            "title": ["Initech", "Initrode"][v],
            "industry": ["Software", "Printing"][v],
            "phone": ["+49 30 111", "+49 30 222"][v],
            "email": ["office@initech.example", "office@initrode.example"][v],
            "website": ["https://initech.example", "https://initrode.example"][v],
            "address": ["Berlin", "Hamburg"][v],
            "comments": ["Big fish", "Small fish"][v],
        }
    if entity_type == "contact":
        return {
            "first_name": ["Peter", "Milton"][v],
            "last_name": ["Gibbons", "Waddams"][v],
            "email": ["peter@initech.example", "milton@initech.example"][v],
            "phone": ["+1 555 0101", "+1 555 0102"][v],
            "position": ["Engineer", "Collator"][v],
            "company": CompanyFactory(account=account).id,
        }
    if entity_type == "lead":
        return {
            "title": ["Website relaunch", "Intranet"][v],
            "status": ["qualified", "junk"][v],
            "source": ["website", "partner"][v],
            "first_name": ["Joanna", "Lawrence"][v],
            "last_name": ["Smith", "Jones"][v],
            "email": ["joanna@lead.example", "lawrence@lead.example"][v],
            "phone": ["+44 20 7946 0001", "+44 20 7946 0002"][v],
            "amount": ["1200.50", "99.00"][v],
        }
    if entity_type == "deal":
        contact = ContactFactory(account=account, with_company=True)
        return {
            "title": ["Annual licence", "Support contract"][v],
            "stage": ["proposal", "won"][v],
            "amount": ["9999.99", "15.00"][v],
            "currency": ["USD", "CHF"][v],
            "company": contact.company_id,
            "contact": contact.id,
            "close_date": ["2030-06-30", "2031-01-15"][v],
        }
    if entity_type == "activity":
        return {
            "subject": ["Kick-off call", "Follow-up mail"][v],
            "type": ["call", "email"][v],
            "description": ["Agenda attached", "Sent the offer"][v],
            "due_at": ["2030-06-30T08:00:00Z", "2031-01-15T16:30:00Z"][v],
            "completed": [False, True][v],
            "deal": DealFactory(account=account).id,
        }
    raise ValueError(entity_type)


def row_snapshot(record) -> dict:
    """Every column of ``record`` as stored now, but those the database computes from the
    others (a contact's search column)."""
    fresh = type(record).objects.get(pk=record.pk)
    return {
        field.attname: getattr(fresh, field.attname)
        for field in fresh._meta.concrete_fields
        if not field.generated
    }


def row_counts() -> dict[str, int]:
    """Rows of each CRM model, all accounts together."""
    return {entity_type: model.objects.count() for entity_type, model in MODELS.items()}


def assert_error(response, status: int, code: str | None = None) -> dict:
    """``status`` with API.md's error body ``{detail, code}``; returns the body."""
    assert response.status_code == status, response.content
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["code"], str) and body["code"]
    if code is not None:
        assert body["code"] == code, body
    return body
