"""Check setup: everything a sync relies on, asked of the configured live systems before the
first run, each check with what to fix in the words (and menus) a finance admin knows.

Zuora: the credentials, the APIs the sync calls (Object Query, v1 accounts, the Actions
update, ZOQL), the custom fields of the Account (its describe API), currencies and payment
terms. NetSuite: the credentials, SuiteQL, reading and editing customers, the custom fields
of the customer (the REST metadata catalog), and every SuiteQL query the sync runs, each with
a one-row limit so that a column the account names differently fails here under the query's
name. Then the preferences that name live records: subsidiary, currency, payment term.

The queries the engines build themselves (the customer selection's conditions, the existence
lookup, the reference lookups, the ZOQL read-back) are imported from them, never copied: a
check runs the very SQL a run will.

No check writes anything: permissions to write are proven by writes to a record that cannot
exist, which each system refuses as "not found" when the role may write, and as a
permission error when it may not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from connectors.http import ApiError
from connectors.netsuite import client as ns_client
from connectors.netsuite import fields as ns_fields
from connectors.netsuite.client import NetSuiteClient
from connectors.zuora import fields as z_fields
from connectors.zuora.client import ZuoraClient
from syncadmin.models import (
    Direction,
    NetSuiteConnection,
    SetupCheck,
    SyncPreferences,
    ZuoraConnection,
)
from syncadmin.selectors import added_mappings_for
from syncadmin.services.connections import netsuite_client_build, zuora_client_build
from syncadmin.services.matching import ACTIVE_CUSTOMERS_QUERY
from syncadmin.services.netsuite_customers import SELECTION_WHERE
from syncadmin.services.netsuite_reads import EXISTING_CUSTOMERS_QUERY, REFERENCE_QUERY
from syncadmin.services.netsuite_to_zuora import DATE_FORMATS
from syncadmin.services.preferences import (
    currency_problem,
    payment_term_problem,
    subsidiary_problem,
)
from syncadmin.services.storable import storable_text
from syncadmin.services.zuora_to_netsuite import added_row_fields
from syncadmin.services.zuora_to_netsuite import changed_rows_query as zuora_rows_query

CLIENT_OPTIONS: dict[str, Any] = {"timeout": 15, "max_attempts": 2, "retry_budget": 20}
# An id no record has: writes to it prove permission without changing anything.
NO_SUCH_ZUORA_ACCOUNT = "0" * 32
NO_SUCH_NETSUITE_CUSTOMER = "0"

ZUORA_ROLE = (
    "In Zuora: Settings > Administration > Manage User Roles, edit the role of the API user "
    "of this connection"
)
NETSUITE_ROLE = (
    "In NetSuite: Setup > Users/Roles > Manage Roles, edit the role of this connection's "
    "access token"
)
# Zuora custom fields of the Account: how to create each (Extension Studio's wording).
ZUORA_FIELD_SPECS = {
    z_fields.INTEGRATION_ID: "Integration ID, Text (255)",
    z_fields.INTEGRATION_STATUS: "Integration Status, Text (255)",
    z_fields.SYNC_DATE: "Sync Date, Text (255)",
    z_fields.SYNC_TO_NETSUITE: "Sync to NetSuite, Picklist with Yes and No",
    z_fields.SUBSIDIARY: "Subsidiary, Text (255)",
    z_fields.CUSTOMER_TYPE: "Customer Type, Picklist with Company and Individual",
    z_fields.CUSTOMER_ID: "Customer ID, Text (255)",
}


@dataclass(frozen=True)
class Check:
    system: str
    name: str
    ok: bool
    fix: str = ""  # what to do when it failed, with the menu path
    detail: str = ""  # what was found


# Reference lists the checks read (None: could not be read), for the preference checks.
Lists = dict[str, list[str] | None]


def setup_check_run(*, ran_by: str = "") -> SetupCheck:
    """Run every check against the configured systems and keep the result (the dashboard
    shows the last one)."""
    lists: Lists = {}
    checks = [*_zuora_checks(lists), *_netsuite_checks(lists)]
    checks += _preference_checks(lists)
    return SetupCheck.objects.create(
        passed=all(c.ok for c in checks),
        checks=[{**asdict(c), "detail": storable_text(c.detail)[:500]} for c in checks],
        ran_by=ran_by[:150],
    )


def _failure(error: Exception) -> str:
    return str(error) if isinstance(error, ApiError) else f"{type(error).__name__}: {error}"


def _signin_failed(
    system: str, error: Exception, refused_fix: str, unreached_fix: str
) -> Check | None:
    """The row for a failed first call: no answer, or credentials refused. None when the
    system answered and refused only the call itself (a later row reports that)."""
    detail = _failure(error)
    status = error.status if isinstance(error, ApiError) else 0
    if status is None or status >= 500 or status == 404:
        return Check(system, "Credentials", False, unreached_fix, detail)
    if status and status != 401 and getattr(error, "code", None) != "CREDENTIALS_REFUSED":
        return None
    # Refused, or a key or URL the client could not even use.
    return Check(system, "Credentials", False, refused_fix, detail)


def _probe(system: str, name: str, call: Callable[[], str], fix: str) -> Check:
    """A check that passes when `call` answers (its text is the detail)."""
    try:
        detail = call()
    except Exception as exc:  # every failure is a row of the table, never a crash
        return Check(system, name, False, fix, _failure(exc))
    return Check(system, name, True, detail=detail)


# -- Zuora ------------------------------------------------------------------------------------
def _zuora_checks(lists: Lists) -> Iterator[Check]:
    system = "Zuora"
    if not ZuoraConnection.load().is_configured:
        yield Check(
            system,
            "Connection configured",
            False,
            "In this admin: Connections > Zuora connection: set the base URL, client id and "
            "client secret.",
        )
        return
    try:
        client = zuora_client_build(**CLIENT_OPTIONS)
        client.authenticate()
    except Exception as exc:  # every failure is a row of the table, never a crash
        refused_fix = (
            "In Zuora: Settings > Administration > Manage Users, open the API user, and "
            "create an OAuth client; put its client id and secret in Connections > Zuora "
            "connection."
        )
        signin = _signin_failed(
            system,
            exc,
            refused_fix,
            "Zuora did not answer: in Connections > Zuora connection, check that the base URL "
            "is your tenant's REST URL (e.g. https://rest.na.zuora.com), and that this server "
            "can reach it.",
        )
        # The token call does nothing but sign in: any refusal of it is the credentials'.
        yield signin or Check(system, "Credentials", False, refused_fix, _failure(exc))
        return
    yield Check(system, "Credentials", True, detail="Signed in.")
    first: list[dict] = []

    def object_query() -> str:
        first.extend(islice(client.iter_accounts(page_size=1, expand_contacts=True), 1))
        return "Accounts readable." if first else "Answered (no accounts yet)."

    yield _probe(
        system,
        "Object Query (reading accounts)",
        lambda: object_query(),
        f"{ZUORA_ROLE}: allow API Write Access and, under Billing, viewing customer accounts.",
    )
    yield _probe(
        system,
        "Object Query (reading changed contacts)",
        lambda: _zuora_contacts(client),
        f"{ZUORA_ROLE}: allow API Write Access and, under Billing, viewing customer accounts.",
    )
    yield _probe(
        system,
        "v1 account API",
        lambda: _zuora_v1(client, first[0]["id"] if first else None),
        f"{ZUORA_ROLE}: allow API Write Access and, under Billing, Create Customer Accounts "
        "and Edit Customer Accounts.",
    )
    yield _probe(
        system,
        "Actions API (writing back the NetSuite id)",
        lambda: _zuora_actions(client),
        f"{ZUORA_ROLE}: allow API Write Access and, under Billing, Edit Customer Accounts.",
    )
    yield _probe(
        system,
        "ZOQL (Actions query)",
        lambda: _zuora_zoql(client, f"select Id from Account where Id = '{NO_SUCH_ZUORA_ACCOUNT}'"),
        f"{ZUORA_ROLE}: allow API Write Access (ZOQL runs through the Actions API).",
    )
    yield from _zuora_fields(client)
    yield _probe(
        system,
        "Query: account rows read back after writing (ZOQL)",
        lambda: _zuora_zoql(
            client, zuora_rows_query(datetime.now(UTC), None, _mapped_zuora_row_fields())
        ),
        "Zuora refused the query the sync uses to read accounts back: add the Account custom "
        "fields listed above, then run Check setup again.",
    )
    yield from _zuora_lists(client, lists)


def _zuora_v1(client: ZuoraClient, account_id: str | None) -> str:
    if account_id is None:
        return "Not tried: no account to read yet."
    client.get_account_details(account_id)
    return "Accounts readable through the v1 API."


def _zuora_contacts(client: ZuoraClient) -> str:
    # The sync's own filter (contacts changed since its watermark), from now: no rows to read.
    list(islice(client.iter_contacts_changed_since(datetime.now(UTC), page_size=1), 1))
    return "Contacts readable."


def _zuora_actions(client: ZuoraClient) -> str:
    (result,) = client.update_accounts([(NO_SUCH_ZUORA_ACCOUNT, {})])
    if result is not None and result.code != "INVALID_ID":
        raise result
    return "Allowed (tried on an account that does not exist)."


def _mapped_zuora_row_fields() -> tuple[str, ...]:
    """The Zuora account fields the added Zuora → NetSuite mappings read (ZOQL names)."""
    mappings = added_mappings_for(direction=Direction.ZUORA_TO_NETSUITE)
    return added_row_fields([m.source_field for m in mappings])


def _mapped_netsuite_fields() -> tuple[list[str], dict[str, str]]:
    """The NetSuite customer fields the added NetSuite → Zuora mappings read, and the formats
    their dates are read in."""
    mappings = added_mappings_for(direction=Direction.NETSUITE_TO_ZUORA)
    formats = {
        m.source_field: DATE_FORMATS[m.source_type]
        for m in mappings
        if m.source_type in DATE_FORMATS
    }
    return [m.source_field for m in mappings], formats


def _zuora_zoql(client: ZuoraClient, query: str) -> str:
    for _ in client.iter_zoql(query, batch_size=1):
        break
    return "Runs."


def _zuora_fields(client: ZuoraClient) -> Iterator[Check]:
    try:
        described = client.describe_fields("Account")
    except Exception as exc:  # the describe call itself failed: one row says why
        yield Check(
            "Zuora",
            "Account custom fields (describe)",
            False,
            f"{ZUORA_ROLE}: allow API Write Access, then run Check setup again.",
            _failure(exc),
        )
        return
    for name in z_fields.ALL:
        yield Check(
            "Zuora",
            f"Account field {name}",
            name in described,
            ""
            if name in described
            else (
                "In Zuora: Extension Studio > Object Manager > Account > Custom Fields: add "
                f"{ZUORA_FIELD_SPECS[name]}, API name {name}. Until it exists, Zuora ignores "
                "the sync's writes to it without an error."
            ),
            "Exists." if name in described else "Missing from the Account.",
        )


def _zuora_lists(client: ZuoraClient, lists: Lists) -> Iterator[Check]:
    for key, name, read, fix in (
        (
            "zuora_currencies",
            "Currencies",
            client.list_currencies,
            "In Zuora: Settings > Billing > Customize Currencies: enable the currencies your "
            "accounts use.",
        ),
        (
            "zuora_terms",
            "Payment terms",
            client.list_payment_terms,
            "In Zuora: Settings > Billing > Define Payment Terms: add the terms your accounts use.",
        ),
    ):
        try:
            values = read()
        except Exception as exc:  # a shape the client cannot read fails here, not in a run
            lists[key] = None
            yield Check("Zuora", name, False, fix, _failure(exc))
            continue
        lists[key] = values
        yield Check("Zuora", name, bool(values), "" if values else fix, f"{len(values)} active.")


# -- NetSuite ---------------------------------------------------------------------------------
def _netsuite_checks(lists: Lists) -> Iterator[Check]:
    system = "NetSuite"
    if not NetSuiteConnection.load().is_configured:
        yield Check(
            system,
            "Connection configured",
            False,
            "In this admin: Connections > NetSuite connection: set the account id and the "
            "token-based (or OAuth 2.0) credentials.",
        )
        return
    try:
        client = netsuite_client_build(**CLIENT_OPTIONS)
        client.suiteql_first_page("SELECT id FROM subsidiary ORDER BY id", page_size=1)
    except Exception as exc:  # every failure is a row of the table, never a crash
        signin = _signin_failed(
            system,
            exc,
            "In NetSuite: Setup > Users/Roles > Access Tokens: create a token for the "
            "integration record and role; put the consumer key and secret (Setup > Integration "
            "> Manage Integrations) and the token id and secret in Connections > NetSuite "
            "connection.",
            "NetSuite did not answer: in Connections > NetSuite connection, check the account "
            "id (Setup > Company > Company Information in NetSuite) and leave the base URL "
            "empty unless you were given one; check that this server can reach NetSuite.",
        )
        if signin is not None:
            yield signin
            return
        yield Check(system, "Credentials", True, detail="Signed in.")
        yield Check(
            system,
            "Role may run SuiteQL",
            False,
            f"{NETSUITE_ROLE}: under Permissions > Setup add REST Web Services and Log in "
            "using Access Tokens (Full); under Permissions > Reports add SuiteAnalytics "
            "Workbook.",
            _failure(exc),
        )
        return
    yield Check(system, "Credentials", True, detail="Signed in.")
    yield Check(system, "Role may run SuiteQL", True, detail="Runs.")
    yield _probe(
        system,
        "Role may read and edit customers",
        lambda: _netsuite_customer_access(client),
        f"{NETSUITE_ROLE}: under Permissions > Lists set Customers to Full.",
    )
    yield from _netsuite_fields(client)
    yield from _netsuite_queries(client, lists)


def _netsuite_customer_access(client: NetSuiteClient) -> str:
    for attempt in (
        lambda: client.get_customer(NO_SUCH_NETSUITE_CUSTOMER, expand=False),
        lambda: client.update_customer(NO_SUCH_NETSUITE_CUSTOMER, {}),
    ):
        try:
            attempt()
        except ApiError as exc:
            if exc.status != 404 and exc.code != "NONEXISTENT_ID":
                raise
    return "Allowed (tried on a customer that does not exist)."


def _netsuite_fields(client: NetSuiteClient) -> Iterator[Check]:
    try:
        described = client.customer_record_fields()
    except Exception as exc:  # the catalog itself failed: one row says why
        yield Check(
            "NetSuite",
            "Customer custom fields (metadata catalog)",
            False,
            f"{NETSUITE_ROLE}: under Permissions > Setup add REST Web Services (Full).",
            _failure(exc),
        )
        return
    for name in ns_fields.ALL:
        kind = ns_fields.KIND[name]
        found = name in described
        yield Check(
            "NetSuite",
            f"Customer field {name}",
            found,
            ""
            if found
            else (
                "In NetSuite: Customization > Lists, Records, & Fields > Entity Fields > New: "
                f"ID {name.removeprefix('custentity')} (NetSuite adds custentity), type {kind}, "
                "Applies To: Customer."
            ),
            "Exists." if found else "Missing from the customer record.",
        )


def _netsuite_queries(client: NetSuiteClient, lists: Lists) -> Iterator[Check]:
    now = datetime.now(UTC)
    queries = [
        (
            "customer selection (NetSuite → Zuora)",
            # With the NetSuite fields of the added mappings: the very query a run sends.
            ns_client.customer_selection_query(now, SELECTION_WHERE, *_mapped_netsuite_fields()),
        ),
        (
            "existing customers (Zuora → NetSuite)",
            f"{EXISTING_CUSTOMERS_QUERY} WHERE externalid IN ('{NO_SUCH_ZUORA_ACCOUNT}') "
            "ORDER BY id",
        ),
        ("address book lines", ns_client.address_book_query([NO_SUCH_NETSUITE_CUSTOMER])),
        ("address changes", ns_client.address_change_query(now)),
        ("NetSuite's clock (newest customer change)", ns_client.NEWEST_CHANGE_QUERY),
        ("reference lookups", REFERENCE_QUERY),
        ("currencies", ns_client.CURRENCY_QUERY),
        ("subsidiaries", ns_client.SUBSIDIARY_QUERY),
        ("terms", ns_client.TERM_QUERY),
        ("match suggestions", ACTIVE_CUSTOMERS_QUERY),
    ]
    for name, query in queries:
        yield _probe(
            "NetSuite",
            f"Query: {name}",
            lambda query=query: _first_row(client, query),
            f"NetSuite refused the {name} query (the error names the column). Open "
            "Analytics > Records Catalog in NetSuite to see what this account calls it, and "
            "send this table to your implementation partner or our support.",
        )
    for key, read in (
        ("netsuite_subsidiaries", lambda: [s["name"] for s in client.list_subsidiaries()]),
        ("netsuite_currencies", lambda: [c["symbol"] for c in client.list_currencies()]),
        ("netsuite_terms", lambda: [t["name"] for t in client.list_terms()]),
    ):
        try:
            lists[key] = read()
        except Exception:  # the query rows above already say why
            lists[key] = None


def _first_row(client: NetSuiteClient, query: str) -> str:
    rows, _ = client.suiteql_first_page(query, page_size=1)
    return "Runs." if rows else "Runs (no rows yet)."


# -- preferences ------------------------------------------------------------------------------
def _preference_checks(lists: Lists) -> list[Check]:
    preferences = SyncPreferences.load()
    checks = []
    where = "Sync preferences"
    subsidiaries = lists.get("netsuite_subsidiaries")
    if subsidiaries is not None and (
        preferences.netsuite_one_world or preferences.default_subsidiary
    ):
        problem = subsidiary_problem(preferences.default_subsidiary, subsidiaries)
        if not preferences.default_subsidiary:
            problem = f"OneWorld needs a default subsidiary: one of {'; '.join(subsidiaries)}."
        checks.append(_resolved("NetSuite", "Default subsidiary", problem, where))
    currency = preferences.zuora_default_currency
    for system, key in (("Zuora", "zuora_currencies"), ("NetSuite", "netsuite_currencies")):
        codes = lists.get(key)
        if codes is not None:
            problem = currency_problem(currency, codes, system)
            checks.append(_resolved(system, f"Default currency {currency}", problem, where))
    term = preferences.default_payment_term
    for system, key in (("Zuora", "zuora_terms"), ("NetSuite", "netsuite_terms")):
        terms = lists.get(key)
        if terms is not None:
            problem = payment_term_problem(term, terms, system)
            checks.append(_resolved(system, f'Default payment term "{term}"', problem, where))
    return checks


def _resolved(system: str, name: str, problem: str | None, where: str) -> Check:
    if problem is None:
        return Check(system, name, True, detail="Exists.")
    return Check(system, name, False, f"{problem} Change it in {where}, or add it in {system}.")
