"""factory-boy factories for the rows tests set up: each test states only the fields it cares
about and gets distinct, valid values for the rest.

For many rows at once, build them and insert them in one statement:
`RecordLink.objects.bulk_create(RecordLinkFactory.build_batch(400))` (pass saved parents, e.g.
`run=run`, since a built row's SubFactory parent is not saved)."""

from __future__ import annotations

from typing import Any

import factory
from django.conf import settings
from django.utils import timezone
from factory.django import DjangoModelFactory

from syncadmin.models import (
    AccountResult,
    Direction,
    FieldMapping,
    HookEvent,
    HookSettings,
    IgnoredAccount,
    LinkEvent,
    LinkImport,
    Master,
    MatchSuggestion,
    NameTranslation,
    NetSuiteConnection,
    Outcome,
    RecordLink,
    SyncCursor,
    SyncPreferences,
    SyncRun,
    ZuoraConnection,
)


class UserFactory(DjangoModelFactory):
    """A staff user without a usable password: tests log in with `client.force_login(user)`."""

    class Meta:
        model = settings.AUTH_USER_MODEL
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    is_staff = True
    password = factory.django.Password(None)

    @factory.post_generation
    def groups(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        """`UserFactory(groups=[group, ...])` puts the user in those groups (roles)."""
        if create and extracted:
            self.groups.add(*extracted)


class SingletonFactory(DjangoModelFactory):
    """The one row of a settings table (pk=1, created if there is none yet): the factory's fields
    are set on it without the admin's validation, and secrets named in the model's
    SECRET_FIELDS are stored encrypted."""

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Any:
        instance = model_class.load()
        for name, value in kwargs.items():
            if name in getattr(instance, "SECRET_FIELDS", ()):
                instance.set_secret(name, value)
            else:
                setattr(instance, name, value)
        instance.save()
        return instance


class ZuoraConnectionFactory(SingletonFactory):
    """A configured Zuora connection; the secret is a placeholder no tenant accepts."""

    class Meta:
        model = ZuoraConnection

    base_url = "https://rest.apisandbox.zuora.com"
    client_id = "fake-zuora-client-id"
    client_secret = "fake-zuora-client-secret"


class NetSuiteConnectionFactory(SingletonFactory):
    """A configured NetSuite connection with token-based auth; the secrets are placeholders."""

    class Meta:
        model = NetSuiteConnection

    account_id = "1234567_SB1"
    auth_method = NetSuiteConnection.AUTH_TBA
    consumer_key = "fake-consumer-key"
    consumer_secret = "fake-consumer-secret"
    token_id = "fake-token-id"
    token_secret = "fake-token-secret"


class SyncPreferencesFactory(SingletonFactory):
    """Valid preferences (OneWorld with a default subsidiary); `netsuite_master=True` makes
    NetSuite the customer master."""

    class Meta:
        model = SyncPreferences

    default_subsidiary = "Parent Company : US Sub"

    class Params:
        netsuite_master = factory.Trait(master=Master.NETSUITE)


class SyncRunFactory(DjangoModelFactory):
    """A scheduled Zuora → NetSuite run, still running unless a trait finishes it."""

    class Meta:
        model = SyncRun

    trigger = SyncRun.Trigger.SCHEDULE
    direction = Direction.ZUORA_TO_NETSUITE

    class Params:
        succeeded = factory.Trait(
            status=SyncRun.Status.SUCCEEDED, finished_at=factory.LazyFunction(timezone.now)
        )
        partly_failed = factory.Trait(
            status=SyncRun.Status.PARTLY_FAILED, finished_at=factory.LazyFunction(timezone.now)
        )


class RecordLinkFactory(DjangoModelFactory):
    """A Zuora account linked to a NetSuite customer by the sync."""

    class Meta:
        model = RecordLink

    zuora_account_id = factory.Sequence(lambda n: f"2c92c0f8{n:024x}")
    zuora_account_number = factory.Sequence(lambda n: f"A{n:08d}")
    netsuite_internal_id = factory.Sequence(lambda n: str(10_000 + n))
    netsuite_entity_id = factory.Sequence(lambda n: f"CUST{n:05d}")


class AccountResultFactory(DjangoModelFactory):
    """One account's outcome in a run: created unless `failed=True`."""

    class Meta:
        model = AccountResult

    run = factory.SubFactory(SyncRunFactory)
    source_id = factory.Sequence(lambda n: f"2c92c0f9{n:024x}")
    source_number = factory.Sequence(lambda n: f"A{n:08d}")
    source_name = factory.Sequence(lambda n: f"Customer {n}")
    outcome = Outcome.CREATED

    class Params:
        failed = factory.Trait(
            outcome=Outcome.FAILED,
            error_code="UNKNOWN_PAYMENT_TERM",
            error_message=factory.LazyAttribute(
                lambda result: f"Account {result.source_number} failed: {result.error_code}."
            ),
        )


class LinkEventFactory(DjangoModelFactory):
    """A pair linked by hand."""

    class Meta:
        model = LinkEvent

    action = LinkEvent.Action.LINKED
    zuora_account_id = factory.Sequence(lambda n: f"2c92c0fa{n:024x}")
    netsuite_internal_id = factory.Sequence(lambda n: str(20_000 + n))


class MatchSuggestionFactory(DjangoModelFactory):
    """A strong, pending same-email match between unlinked records."""

    class Meta:
        model = MatchSuggestion

    zuora_account_id = factory.Sequence(lambda n: f"2c92c0fb{n:024x}")
    zuora_name = factory.Sequence(lambda n: f"Customer {n}")
    netsuite_internal_id = factory.Sequence(lambda n: str(30_000 + n))
    netsuite_name = factory.LazyAttribute(lambda suggestion: suggestion.zuora_name)
    rule = MatchSuggestion.Rule.EMAIL
    confidence = 85
    strong = True
    reason = "Same email"


class IgnoredAccountFactory(DjangoModelFactory):
    """A Zuora account taken out of the Zuora → NetSuite sync."""

    class Meta:
        model = IgnoredAccount

    direction = Direction.ZUORA_TO_NETSUITE
    source_id = factory.Sequence(lambda n: f"2c92c0fc{n:024x}")


class LinkImportFactory(DjangoModelFactory):
    """A previewed CSV of links without rows."""

    class Meta:
        model = LinkImport

    filename = factory.Sequence(lambda n: f"links-{n}.csv")
    rows = factory.LazyFunction(list)


class SyncCursorFactory(DjangoModelFactory):
    """The Zuora → NetSuite watermark, set to now."""

    class Meta:
        model = SyncCursor

    direction = Direction.ZUORA_TO_NETSUITE
    watermark = factory.LazyFunction(timezone.now)


class FieldMappingFactory(DjangoModelFactory):
    """An added mapping, Zuora Region__c → NetSuite custentity_region, copied as it is."""

    class Meta:
        model = FieldMapping

    direction = Direction.ZUORA_TO_NETSUITE
    source_field = "Region__c"
    source_label = "Region"
    destination_field = "custentity_region"
    destination_label = "Region"


class NameTranslationFactory(DjangoModelFactory):
    """A payment term named differently: Zuora "Net 45" is NetSuite "Net 60"."""

    class Meta:
        model = NameTranslation

    kind = NameTranslation.Kind.PAYMENT_TERM
    zuora_name = "Net 45"
    netsuite_name = "Net 60"


HOOK_TEST_SECRET = "test-hook-secret-0123456789"


class HookSettingsFactory(DjangoModelFactory):
    """A system's near-real-time hook, on, with a known shared secret (`secret=`,
    `basic_password=` to choose them; stored encrypted like the admin stores them)."""

    class Meta:
        model = HookSettings

    system = Master.ZUORA
    enabled = True
    secret = HOOK_TEST_SECRET

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Any:
        secrets = {name: kwargs.pop(name) for name in model_class.SECRET_FIELDS if name in kwargs}
        instance, _ = model_class.objects.get_or_create(system=kwargs.pop("system"))
        for name, value in kwargs.items():
            setattr(instance, name, value)
        for name, value in secrets.items():
            instance.set_secret(name, value)
        instance.save()
        return instance


class HookEventFactory(DjangoModelFactory):
    """An event a Zuora hook received and queued."""

    class Meta:
        model = HookEvent

    system = Master.ZUORA
    event_type = "AccountUpdated"
    record_key = factory.Sequence(lambda n: f"A{n:08d}")
    outcome = HookEvent.Outcome.QUEUED
    received_at = factory.LazyFunction(timezone.now)
