"""A realistic demo account, made through the same services as real use: records, some edits,
and deletions spread over the last weeks (one of them a mass deletion), so the recycle bin and
the history have something to show."""

import random
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from unittest import mock

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, User
from accounts.services import account_create, user_create
from crm import services
from crm.entities import ENTITIES
from crm.models import Deal, Lead

DEMO_ACCOUNT = "Demo GmbH"
DEMO_ADMIN = "demo-admin"
DEMO_EMPLOYEE = "demo-employee"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - a published demo login, printed on purpose

FIRST_NAMES = [
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Emma",
    "Felix",
    "Greta",
    "Hannah",
    "Jonas",
    "Julia",
    "Karl",
    "Lea",
    "Lukas",
    "Marie",
    "Max",
    "Mia",
    "Noah",
    "Paul",
    "Sophie",
    "Tim",
    "Laura",
    "Elias",
    "Lina",
    "Finn",
    "Amelie",
    "Leon",
    "Johanna",
    "Moritz",
    "Charlotte",
    "Oskar",
    "Ida",
    "Emil",
]
LAST_NAMES = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Werner",
    "Krause",
    "Lehmann",
    "Köhler",
    "Walter",
    "Maier",
    "König",
    "Smith",
    "Johnson",
    "Brown",
    "Garcia",
    "Rossi",
    "Dubois",
    "Novak",
]
COMPANY_WORDS = [
    "Nord",
    "Süd",
    "Alpen",
    "Rhein",
    "Elbe",
    "Blau",
    "Grün",
    "Hansa",
    "Vita",
    "Terra",
    "Nova",
    "Prima",
    "Optima",
    "Solar",
    "Data",
    "Bau",
    "Logistik",
    "Technik",
    "Systeme",
    "Werke",
    "Medien",
    "Consult",
    "Handel",
    "Energie",
    "Digital",
]
COMPANY_FORMS = ("GmbH", "AG", "KG", "GmbH & Co. KG", "Ltd", "SE")
INDUSTRIES = (
    "Manufacturing",
    "IT",
    "Retail",
    "Logistics",
    "Healthcare",
    "Finance",
    "Energy",
    "Media",
)
POSITIONS = ("CEO", "CTO", "Head of Sales", "Buyer", "Office manager", "Engineer", "Consultant")
DEAL_WORDS = ("Licence", "Rollout", "Support contract", "Hardware", "Consulting", "Training")
ACTIVITY_SUBJECTS = {
    "call": ("Follow-up call", "Intro call", "Call back about the offer"),
    "meeting": ("Kick-off meeting", "Demo on site", "Quarterly review"),
    "email": ("Send the proposal", "Answer pricing question", "Send the contract draft"),
    "task": ("Prepare the offer", "Check the credit rating", "Update the contact details"),
}

COUNTS = {"company": 200, "contact": 400, "lead": 300, "deal": 250, "activity": 500}
MASS_DELETION = 40  # leads the employee deletes at once, four days ago


def _email(first: str, last: str, domain: str) -> str:
    local = f"{first}.{last}".lower()
    for umlaut, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        local = local.replace(umlaut, plain)
    return f"{local}@{domain}"


class Command(BaseCommand):
    help = "Create the demo account with a few hundred records of each kind (once)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args, **options):
        if Account.objects.filter(name=DEMO_ACCOUNT).exists():
            self.stdout.write(f"The demo account {DEMO_ACCOUNT!r} exists already.")
        else:
            self._create(random.Random(options["seed"]))  # noqa: S311 - demo data, not secrets
        self.stdout.write(
            self.style.SUCCESS(
                f"Log in as {DEMO_ADMIN} (admin) or {DEMO_EMPLOYEE} (employee), "
                f"password {DEMO_PASSWORD!r}."
            )
        )

    @transaction.atomic
    def _create(self, rng: random.Random) -> None:
        account = account_create(
            name=DEMO_ACCOUNT,
            plan="professional",
            admin_username=DEMO_ADMIN,
            admin_password=DEMO_PASSWORD,
            admin_email="admin@demo.example",
            check_password=False,
        )
        admin = account.users.get()
        employee = user_create(
            username=DEMO_EMPLOYEE,
            password=DEMO_PASSWORD,
            email="employee@demo.example",
            account=account,
            role=User.Role.EMPLOYEE,
            check_password=False,
        )
        actors = (admin, employee)

        def create(entity_type: str, **data):
            return services.record_create(
                account=account,
                actor=rng.choice(actors),
                entity=ENTITIES[entity_type],
                data=data,
            )

        companies = []
        for _ in range(COUNTS["company"]):
            words = rng.sample(COMPANY_WORDS, 2)
            name = f"{words[0]} {words[1]} {rng.choice(COMPANY_FORMS)}"
            domain = name.split()[0].lower().replace("ü", "ue") + ".example"
            companies.append(
                create(
                    "company",
                    title=name,
                    industry=rng.choice(INDUSTRIES),
                    phone=f"+49 {rng.randint(30, 89)} {rng.randint(100000, 999999)}",
                    email=f"info@{domain}",
                    website=f"https://www.{domain}",
                    address=f"{rng.choice(LAST_NAMES)}straße {rng.randint(1, 120)}, Berlin",
                )
            )
        contacts = []
        for _ in range(COUNTS["contact"]):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            company = rng.choice(companies) if rng.random() < 0.8 else None
            domain = company.email.split("@")[1] if company else "mail.example"
            contacts.append(
                create(
                    "contact",
                    first_name=first,
                    last_name=last,
                    email=_email(first, last, domain),
                    phone=f"+49 1{rng.randint(50, 79)} {rng.randint(1000000, 9999999)}",
                    position=rng.choice(POSITIONS),
                    company=company,
                )
            )
        leads = []
        for _ in range(COUNTS["lead"]):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            leads.append(
                create(
                    "lead",
                    title=f"{rng.choice(DEAL_WORDS)} for {last}",
                    status=rng.choice(Lead.Status.values),
                    source=rng.choice(Lead.Source.values),
                    first_name=first,
                    last_name=last,
                    email=_email(first, last, "lead.example"),
                    amount=Decimal(rng.randint(5, 500) * 100),
                )
            )
        deals = []
        today = timezone.localdate()
        for _ in range(COUNTS["deal"]):
            company = rng.choice(companies)
            contact = next((c for c in contacts if c.company_id == company.pk), None)
            deals.append(
                create(
                    "deal",
                    title=f"{rng.choice(DEAL_WORDS)} – {company.title}",
                    stage=rng.choice(Deal.Stage.values),
                    amount=Decimal(rng.randint(10, 2000) * 100),
                    currency="EUR",
                    company=company,
                    contact=contact,
                    close_date=today + timedelta(days=rng.randint(-60, 120)),
                )
            )
        parents = {"company": companies, "contact": contacts, "lead": leads, "deal": deals}
        now = timezone.now()
        for _ in range(COUNTS["activity"]):
            kind = rng.choice(list(ACTIVITY_SUBJECTS))
            parent_type = rng.choice(list(parents))
            create(
                "activity",
                subject=rng.choice(ACTIVITY_SUBJECTS[kind]),
                type=kind,
                due_at=now + timedelta(hours=rng.randint(-24 * 30, 24 * 30)),
                completed=rng.random() < 0.4,
                **{parent_type: rng.choice(parents[parent_type])},
            )
        self._edit_and_delete(rng, actors, parents)
        self.stdout.write(
            "Created the demo account: "
            + ", ".join(f"{n} {ENTITIES[t].verbose_name_plural}" for t, n in COUNTS.items())
            + ", some of them edited and deleted since."
        )

    def _edit_and_delete(self, rng: random.Random, actors, parents) -> None:
        admin, employee = actors
        for days_ago in range(20, 0, -1):
            with _days_ago(days_ago):
                for _ in range(rng.randint(0, 3)):
                    deal = rng.choice(parents["deal"])
                    if deal.bin_entry_id is None:
                        services.record_update(
                            record=deal,
                            actor=rng.choice(actors),
                            data={"stage": rng.choice(Deal.Stage.values)},
                        )
                for _ in range(rng.randint(0, 2)):
                    entity_type = rng.choice(["contact", "deal", "company"])
                    self._delete(rng.choice(parents[entity_type]), rng.choice(actors))
        with _days_ago(4):
            for lead in rng.sample(parents["lead"], MASS_DELETION):
                self._delete(lead, employee)

    @staticmethod
    def _delete(record, actor) -> None:
        record.refresh_from_db()
        if record.bin_entry_id is None:
            services.record_delete(record=record, actor=actor)


@contextmanager
def _days_ago(days: int):
    """Run the services as if it were ``days`` ago (demo data only: real changes happen now)."""
    moment = timezone.now() - timedelta(days=days)
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield
