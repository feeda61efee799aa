"""Where Zuora and NetSuite are and how to sign in to them."""

from __future__ import annotations

from django.db import models

from syncadmin.models.base import SecretsMixin, Singleton


class ZuoraConnection(SecretsMixin, Singleton):
    ENVIRONMENTS = {
        "production-us": "https://rest.na.zuora.com",
        "production-us-legacy": "https://rest.zuora.com",
        "production-eu": "https://rest.eu.zuora.com",
        "apisandbox-us": "https://rest.apisandbox.zuora.com",
        "sandbox-us": "https://rest.sandbox.na.zuora.com",
        "central-sandbox-us": "https://rest.test.zuora.com",
        "sandbox-eu": "https://rest.sandbox.eu.zuora.com",
        "central-sandbox-eu": "https://rest.test.eu.zuora.com",
    }
    SECRET_FIELDS = ("client_secret",)

    base_url = models.URLField(
        blank=True,
        help_text="REST base URL of the tenant, e.g. https://rest.na.zuora.com, or the local "
        "sandbox's URL.",
    )
    client_id = models.CharField(max_length=200, blank=True, help_text="OAuth client id.")
    client_secret_encrypted = models.TextField(blank=True, editable=False)
    entity_id = models.CharField(
        max_length=100, blank=True, help_text="Zuora-Entity-Ids header, for multi-entity tenants."
    )
    updated_at = models.DateTimeField(auto_now=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True, blank=True)
    last_check_message = models.TextField(blank=True)

    class Meta:
        verbose_name = "Zuora connection"
        verbose_name_plural = "Zuora connection"

    def __str__(self) -> str:
        return f"Zuora at {self.base_url or '(not configured)'}"

    @property
    def is_configured(self) -> bool:
        return bool(self.base_url and self.client_id and self.secret_is_set("client_secret"))


class NetSuiteConnection(SecretsMixin, Singleton):
    AUTH_TBA = "tba"
    AUTH_OAUTH2 = "oauth2"
    SECRET_FIELDS = ("consumer_secret", "token_secret", "private_key")

    account_id = models.CharField(
        max_length=50, blank=True, help_text="NetSuite account id, e.g. 1234567 or 1234567_SB1."
    )
    base_url = models.URLField(
        blank=True,
        help_text="Leave empty for the account's own address (for account 1234567_SB1: "
        "https://1234567-sb1.suitetalk.api.netsuite.com); set it for the local sandbox.",
    )
    auth_method = models.CharField(
        max_length=10,
        choices=[
            (AUTH_TBA, "Token-based (OAuth 1.0a)"),
            (AUTH_OAUTH2, "OAuth 2.0 client credentials"),
        ],
        default=AUTH_TBA,
    )
    consumer_key = models.CharField(max_length=200, blank=True)
    consumer_secret_encrypted = models.TextField(blank=True, editable=False)
    token_id = models.CharField(max_length=200, blank=True)
    token_secret_encrypted = models.TextField(blank=True, editable=False)
    client_id = models.CharField(max_length=200, blank=True, help_text="OAuth 2.0 client id.")
    certificate_id = models.CharField(
        max_length=200, blank=True, help_text="OAuth 2.0 certificate id (the JWT's kid)."
    )
    private_key_encrypted = models.TextField(blank=True, editable=False)
    algorithm = models.CharField(
        max_length=5, choices=[("PS256", "PS256 (RSA)"), ("ES256", "ES256 (EC)")], default="PS256"
    )
    updated_at = models.DateTimeField(auto_now=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True, blank=True)
    last_check_message = models.TextField(blank=True)

    class Meta:
        verbose_name = "NetSuite connection"
        verbose_name_plural = "NetSuite connection"

    def __str__(self) -> str:
        return f"NetSuite account {self.account_id or '(not configured)'}"

    @property
    def is_configured(self) -> bool:
        if not self.account_id:
            return False
        if self.auth_method == self.AUTH_OAUTH2:
            return bool(
                self.client_id and self.certificate_id and self.secret_is_set("private_key")
            )
        return bool(
            self.consumer_key
            and self.token_id
            and self.secret_is_set("consumer_secret")
            and self.secret_is_set("token_secret")
        )
