"""Connection settings of Zuora and NetSuite, with a button that tests them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from syncadmin.admin.common import SingletonAdmin
from syncadmin.forms import NetSuiteConnectionForm, ZuoraConnectionForm
from syncadmin.models import NetSuiteConnection, ZuoraConnection
from syncadmin.services.connections import netsuite_connection_test, zuora_connection_test


def _secret_state(name: str, label: str) -> Any:
    @admin.display(description=label)
    def state(self: Any, obj: Any) -> str:
        return "Set" if obj is not None and obj.secret_is_set(name) else "Not set"

    return state


class ConnectionAdmin(SingletonAdmin):
    readonly_fields = (
        "health",
        "client_secret_state",
        "consumer_secret_state",
        "token_secret_state",
        "private_key_state",
    )
    test_connection = staticmethod(lambda: (False, ""))
    change_form_template = "admin/syncadmin/connection_change_form.html"

    # What a read-only viewer sees instead of a secret's field: whether it is set.
    client_secret_state = _secret_state("client_secret", "Client secret")
    consumer_secret_state = _secret_state("consumer_secret", "Consumer secret")
    token_secret_state = _secret_state("token_secret", "Token secret")
    private_key_state = _secret_state("private_key", "Private key")

    def editable_fieldsets(self, obj: Any) -> list[Any]:
        raise NotImplementedError

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = self.editable_fieldsets(obj)
        if self.has_change_permission(request, obj):
            return fieldsets
        secrets = self.model.SECRET_FIELDS
        return [
            (
                title,
                {
                    **options,
                    "fields": [
                        f"{name}_state" if name in secrets else name
                        for name in options["fields"]
                        if not name.startswith("clear_")
                    ],
                },
            )
            for title, options in fieldsets
        ]

    @admin.display(description="Last check")
    def health(self, obj: Any) -> str:
        if obj.last_checked_at is None:
            return "Never tested."
        state = "OK" if obj.last_check_ok else "Failed"
        return f"{state} at {obj.last_checked_at:%Y-%m-%d %H:%M} UTC: {obj.last_check_message}"

    def get_urls(self) -> list[Any]:
        opts = self.model._meta
        return [
            path(
                "test/",
                self.admin_site.admin_view(self.test_view),
                name=f"{opts.app_label}_{opts.model_name}_test",
            ),
            *super().get_urls(),
        ]

    def has_test_permission(self, request: HttpRequest) -> bool:
        # Testing writes only the health fields and calls a read-only endpoint: the people
        # who run syncs may check a connection; read-only viewers may not.
        return request.user.has_perm("syncadmin.run_sync") or self.has_change_permission(request)

    def test_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or not self.has_test_permission(request):
            raise PermissionDenied
        ok, message = type(self).test_connection()
        self.message_user(
            request,
            f"{self.model._meta.verbose_name}: {message}",
            messages.SUCCESS if ok else messages.ERROR,
        )
        next_url = request.POST.get("next", "")
        if next_url and url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return HttpResponseRedirect(next_url)
        opts = self.model._meta
        return HttpResponseRedirect(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[1])
        )

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        context["can_test_connection"] = self.has_test_permission(request)
        return super().render_change_form(request, context, *args, **kwargs)


@admin.register(ZuoraConnection)
class ZuoraConnectionAdmin(ConnectionAdmin):
    form = ZuoraConnectionForm
    test_connection = staticmethod(zuora_connection_test)

    def editable_fieldsets(self, obj: Any) -> list[Any]:
        secret = ["client_secret"]
        if obj is not None and obj.secret_is_set("client_secret"):
            secret.append("clear_client_secret")
        return [
            (None, {"fields": ["base_url", "client_id", *secret, "entity_id"]}),
            ("Health", {"fields": ["health"]}),
        ]


@admin.register(NetSuiteConnection)
class NetSuiteConnectionAdmin(ConnectionAdmin):
    form = NetSuiteConnectionForm
    test_connection = staticmethod(netsuite_connection_test)

    def editable_fieldsets(self, obj: Any) -> list[Any]:
        def with_clear(names: list[str]) -> list[str]:
            out: list[str] = []
            for name in names:
                out.append(name)
                if (
                    name in NetSuiteConnection.SECRET_FIELDS
                    and obj is not None
                    and obj.secret_is_set(name)
                ):
                    out.append(f"clear_{name}")
            return out

        methods = [
            (
                NetSuiteConnection.AUTH_TBA,
                "Token-based authentication",
                ["consumer_key", "consumer_secret", "token_id", "token_secret"],
            ),
            (
                NetSuiteConnection.AUTH_OAUTH2,
                "OAuth 2.0 client credentials",
                ["client_id", "certificate_id", "algorithm", "private_key"],
            ),
        ]
        # Each method's fields in a fieldset the page shows only while that method is chosen
        # (connection_change_form.html); a stored connection shows its own method's at first.
        chosen = obj.auth_method if obj is not None else NetSuiteConnection.AUTH_TBA
        return [
            (None, {"fields": ["account_id", "base_url", "auth_method"]}),
            *(
                (
                    title,
                    {
                        "fields": with_clear(names),
                        "classes": [f"auth-method auth-{method}"]
                        + ([] if method == chosen else ["auth-hidden"]),
                    },
                )
                for method, title, names in methods
            ),
            ("Health", {"fields": ["health"]}),
        ]
