"""A deterministic generator of realistic customer accounts, in no vendor's shape.

Each sandbox turns these into its own records (Zuora accounts with contacts, NetSuite customers
with an address book). The same `seed` and `count` always give the same accounts, so tests,
the demo and benchmarks can name what they expect.

What it covers on purpose: companies and individuals, non-ASCII names, US and non-US
addresses (state only where the country has one), missing optional fields, bill-to and sold-to
that differ, parent/child hierarchies several levels deep, and Draft / Canceled accounts.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

COUNTRIES = [
    # iso, name, states (None where the address has no state), cities, postal code pattern
    (
        "US",
        "United States",
        ["CA", "NY", "TX", "WA", "MA", "IL"],
        ["San Francisco", "New York", "Austin", "Seattle", "Boston", "Chicago"],
        "#####",
    ),
    ("CA", "Canada", ["ON", "QC", "BC"], ["Toronto", "Montréal", "Vancouver"], "A#A #A#"),
    ("GB", "United Kingdom", None, ["London", "Manchester", "Edinburgh"], "AA# #AA"),
    ("DE", "Germany", None, ["München", "Berlin", "Köln"], "#####"),
    ("FR", "France", None, ["Paris", "Lyon", "Besançon"], "#####"),
    ("JP", "Japan", None, ["Tokyo", "Ōsaka"], "###-####"),
    ("BR", "Brazil", None, ["São Paulo", "Rio de Janeiro"], "#####-###"),
    ("AU", "Australia", ["NSW", "VIC"], ["Sydney", "Melbourne"], "####"),
]
# Zuora contacts usually hold a US state's full name; NetSuite keeps the USPS code.
US_STATE_NAMES = {
    "CA": "California",
    "NY": "New York",
    "TX": "Texas",
    "WA": "Washington",
    "MA": "Massachusetts",
    "IL": "Illinois",
}
COUNTRY_WEIGHTS = [50, 8, 10, 8, 7, 5, 4, 8]
CURRENCY_BY_COUNTRY = {
    "US": "USD",
    "CA": "CAD",
    "GB": "GBP",
    "DE": "EUR",
    "FR": "EUR",
    "JP": "JPY",
    "BR": "USD",
    "AU": "AUD",
}
PAYMENT_TERMS = ["Net 30", "Net 30", "Net 30", "Net 15", "Net 45", "Due Upon Receipt"]
FIRST_NAMES = [
    "Ana",
    "Björn",
    "Chloé",
    "David",
    "Émile",
    "Fatima",
    "Grace",
    "Hiroshi",
    "Inés",
    "James",
    "Kwame",
    "Léa",
    "María",
    "Nikolai",
    "Olivia",
    "Priya",
    "Quentin",
    "Renée",
    "Søren",
    "Tomás",
    "Uma",
    "Valentina",
    "Wei",
    "Xavier",
    "Yuki",
    "Zoë",
]
LAST_NAMES = [
    "Alvarez",
    "Bergström",
    "Chen",
    "Dubois",
    "Eriksen",
    "Fernández",
    "García",
    "Hoffmann",
    "Ivanova",
    "Jørgensen",
    "Kowalski",
    "Lefèvre",
    "Müller",
    "Nakamura",
    "O'Brien",
    "Pérez",
    "Quinn",
    "Rossi",
    "Schäfer",
    "Tanaka",
    "Urquhart",
    "Vargas",
    "Weiß",
    "Yılmaz",
    "Zhang",
]
COMPANY_STEMS = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Nordlicht",
    "Café Lumière",
    "Kōbō",
    "Sûreté",
    "Zürich Analytik",
    "Pied Piper",
    "Aperture",
    "Wonka",
    "Oceanic",
    "Massive Dynamic",
    "Gringotts",
    "Bluth",
]
COMPANY_SUFFIXES = ["Inc.", "LLC", "GmbH", "S.A.", "Ltd", "K.K.", "Corp.", "AG", "Pty Ltd"]
STREETS = [
    "Main St",
    "Market Street",
    "Hauptstraße",
    "Rue de Rivoli",
    "Baker Street",
    "Avenida Paulista",
    "Queen St W",
    "Ginza 4-chome",
    "Elm Avenue",
    "Harbour Rd",
]

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class SeedAddress:
    first_name: str
    last_name: str
    work_email: str | None
    work_phone: str | None
    address1: str | None
    address2: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country_code: str
    country_name: str

    @property
    def state_name(self) -> str | None:
        """The state as a Zuora contact usually holds it: the full name for US states."""
        if self.country_code == "US" and self.state:
            return US_STATE_NAMES.get(self.state, self.state)
        return self.state


@dataclass
class SeedAccount:
    index: int
    account_number: str
    name: str
    is_person: bool
    first_name: str | None
    last_name: str | None
    status: str  # Active | Draft | Canceled
    currency: str
    payment_term: str
    bill_cycle_day: int
    batch: str
    auto_pay: bool
    crm_id: str | None
    notes: str | None
    parent_index: int | None
    bill_to: SeedAddress
    sold_to: SeedAddress
    created: datetime
    updated: datetime
    extra: dict[str, str] = field(default_factory=dict)


def _postal(rng: random.Random, pattern: str) -> str:
    return "".join(
        str(rng.randint(0, 9))
        if ch == "#"
        else rng.choice("ABCEGHJKLMNPRSTVXY")
        if ch == "A"
        else ch
        for ch in pattern
    )


def _address(
    rng: random.Random, first: str, last: str, domain: str, *, sparse: bool
) -> SeedAddress:
    iso, country_name, states, cities, pattern = rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0]
    return SeedAddress(
        first_name=first,
        last_name=last,
        work_email=None
        if sparse and rng.random() < 0.5
        else f"{_ascii(first).lower()}.{_ascii(last).lower()}@{domain}",
        work_phone=None if sparse else f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
        address1=None
        if sparse and rng.random() < 0.3
        else f"{rng.randint(1, 9999)} {rng.choice(STREETS)}",
        address2=f"Suite {rng.randint(100, 999)}" if rng.random() < 0.3 else None,
        city=rng.choice(cities),
        state=rng.choice(states) if states else None,
        postal_code=None if sparse and rng.random() < 0.3 else _postal(rng, pattern),
        country_code=iso,
        country_name=country_name,
    )


def _ascii(text: str) -> str:
    import unicodedata

    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded if ch.isalnum()) or "x"


def generate_accounts(count: int, *, seed: int = 42, start: datetime = EPOCH) -> list[SeedAccount]:
    """`count` accounts; about 8% Draft or Canceled, 20% individuals, 25% in hierarchies."""
    rng = random.Random(seed)
    accounts: list[SeedAccount] = []
    for index in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        is_person = rng.random() < 0.2
        if is_person:
            name = f"{first} {last}"
            domain = "example.net"
        else:
            stem = rng.choice(COMPANY_STEMS)
            name = f"{stem} {rng.choice(COMPANY_SUFFIXES)} {index + 1}"
            domain = f"{_ascii(stem).lower()}.example.com"
        sparse = rng.random() < 0.15
        bill_to = _address(rng, first, last, domain, sparse=sparse)
        if rng.random() < 0.7:
            sold_to = SeedAddress(**bill_to.__dict__)
        else:
            other_first, other_last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            sold_to = _address(rng, other_first, other_last, domain, sparse=sparse)
        roll = rng.random()
        status = "Draft" if roll < 0.04 else "Canceled" if roll < 0.08 else "Active"
        # Hierarchies: a quarter of accounts hang under an earlier one, which makes chains
        # several levels deep because parents can themselves be children.
        parent_index = None
        if index >= 5 and rng.random() < 0.25:
            parent_index = rng.randint(max(0, index - 50), index - 1)
        created = start + timedelta(minutes=index * 7 + rng.randint(0, 6))
        accounts.append(
            SeedAccount(
                index=index,
                account_number=f"A{index + 1:08d}",
                name=name,
                is_person=is_person,
                first_name=first if is_person else None,
                last_name=last if is_person else None,
                status=status,
                currency=CURRENCY_BY_COUNTRY[bill_to.country_code],
                payment_term=rng.choice(PAYMENT_TERMS),
                bill_cycle_day=rng.choice([1, 1, 1, 15, 28, 31]),
                batch=f"Batch{rng.randint(1, 20)}",
                auto_pay=False,
                crm_id=None if sparse else f"0015g00000{rng.randint(10**7, 10**8 - 1)}",
                notes=None if rng.random() < 0.6 else f"Customer since {created:%Y}. Ñotes: façade",
                parent_index=parent_index,
                bill_to=bill_to,
                sold_to=sold_to,
                created=created,
                updated=created + timedelta(hours=rng.randint(0, 48)),
            )
        )
    return accounts


def probable_counterparts(
    accounts: Sequence[SeedAccount],
    *,
    count: int = 6,
    eligible: Callable[[SeedAccount], bool] = lambda account: True,
) -> list[SeedAccount]:
    """The same customers as `count` of `accounts`, as the other system already holds them
    before any sync: what Match suggestions should offer as probable pairs, to approve (link)
    or reject (the sync then creates the record).

    Only Active companies outside any hierarchy qualify, with a bill-to email no other
    account shares and a postal code, and `eligible` (say, set to sync). Every other one
    keeps the email under the name written in capitals; the others keep the name and postal
    code under an accounts-payable email."""
    parents = {a.parent_index for a in accounts if a.parent_index is not None}
    emails = Counter(a.bill_to.work_email for a in accounts if a.bill_to.work_email)
    chosen = [
        a
        for a in accounts
        if a.status == "Active"
        and not a.is_person
        and a.parent_index is None
        and a.index not in parents
        and a.bill_to.work_email
        and emails[a.bill_to.work_email] == 1
        and a.bill_to.postal_code
        and eligible(a)
    ][:count]
    counterparts = []
    for number, account in enumerate(chosen):
        # Indices of their own, so that no seeded parent or child is taken for theirs.
        twin = replace(account, index=-1 - number, parent_index=None)
        if number % 2 == 0:
            twin.name = account.name.upper()
        else:
            domain = account.bill_to.work_email.split("@", 1)[1]
            twin.bill_to = replace(account.bill_to, work_email=f"ap@{domain}")
            twin.sold_to = twin.bill_to
        counterparts.append(twin)
    return counterparts
