"""Thin admin classes: listing, filtering and forms; every action calls a service."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from syncadmin.forms import NetSuiteConnectionForm, SyncPreferencesForm, ZuoraConnectionForm
from syncadmin.models import (
    AccountResult,
    NetSuiteConnection,
    RecordLink,
    SyncPreferences,
    SyncRun,
    ZuoraConnection,
)
from syncadmin.services.connections import netsuite_connection_test, zuora_connection_test
from syncadmin.services.preferences import preferences_update
from syncadmin.services.runs import sync_run_queue


class SingletonAdmin(admin.ModelAdmin):
    """One row: the list view goes straight to its form."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        obj = self.model.load()
        opts = self.model._meta
        return HttpResponseRedirect(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        )


class ConnectionAdmin(SingletonAdmin):
    readonly_fields = ("health",)
    test_connection = staticmethod(lambda: (False, ""))
    change_form_template = "admin/syncadmin/connection_change_form.html"

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

    def test_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or not self.has_view_permission(request):
            raise PermissionDenied
        ok, message = type(self).test_connection()
        self.message_user(request, message, messages.SUCCESS if ok else messages.ERROR)
        opts = self.model._meta
        return HttpResponseRedirect(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[1])
        )


@admin.register(ZuoraConnection)
class ZuoraConnectionAdmin(ConnectionAdmin):
    form = ZuoraConnectionForm
    test_connection = staticmethod(zuora_connection_test)
    fieldsets = [
        (None, {"fields": ["base_url", "client_id", "client_secret", "entity_id"]}),
        ("Health", {"fields": ["health"]}),
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = [list(f) for f in super().get_fieldsets(request, obj)]
        if obj is not None and obj.secret_is_set("client_secret"):
            fieldsets[0] = [
                None,
                {
                    "fields": [
                        "base_url",
                        "client_id",
                        "client_secret",
                        "clear_client_secret",
                        "entity_id",
                    ]
                },
            ]
        return fieldsets


@admin.register(NetSuiteConnection)
class NetSuiteConnectionAdmin(ConnectionAdmin):
    form = NetSuiteConnectionForm
    test_connection = staticmethod(netsuite_connection_test)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
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

        return [
            (None, {"fields": ["account_id", "base_url", "auth_method"]}),
            (
                "Token-based authentication",
                {
                    "fields": with_clear(
                        ["consumer_key", "consumer_secret", "token_id", "token_secret"]
                    )
                },
            ),
            (
                "OAuth 2.0 client credentials",
                {"fields": with_clear(["client_id", "certificate_id", "algorithm", "private_key"])},
            ),
            ("Health", {"fields": ["health"]}),
        ]


@admin.register(SyncPreferences)
class SyncPreferencesAdmin(SingletonAdmin):
    form = SyncPreferencesForm
    fieldsets = [
        (
            "Direction and behaviour",
            {
                "fields": [
                    "master",
                    "confirm_master_switch",
                    "sync_behavior",
                    "hierarchies_enabled",
                    "cutover_date",
                ]
            },
        ),
        ("Customer numbers", {"fields": ["number_mapping", "number_update"]}),
        (
            "NetSuite",
            {
                "fields": [
                    "netsuite_one_world",
                    "default_subsidiary",
                    "netsuite_multi_currency",
                    "default_department_id",
                    "default_class_id",
                    "default_location_id",
                    "netsuite_concurrency",
                ]
            },
        ),
        (
            "Zuora (when NetSuite is master)",
            {
                "fields": [
                    "zuora_default_currency",
                    "default_bill_cycle_day",
                    "default_batch",
                    "default_payment_term",
                ]
            },
        ),
        (
            "Schedule and alerts",
            {"fields": ["schedule_enabled", "schedule_every", "schedule_unit", "alert_emails"]},
        ),
    ]

    def save_model(
        self, request: HttpRequest, obj: SyncPreferences, form: Any, change: bool
    ) -> None:
        values = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name in {f.name for f in SyncPreferences._meta.fields}
        }
        preferences_update(values=values)


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "started_at",
        "direction",
        "trigger",
        "status",
        "total",
        "created",
        "updated",
        "unchanged",
        "linked",
        "skipped",
        "failed_link",
        "duration_display",
    )
    list_filter = ("status", "trigger", "direction")
    date_hierarchy = None
    change_list_template = "admin/syncadmin/syncrun/change_list.html"
    show_full_result_count = False
    readonly_fields = [f.name for f in SyncRun._meta.fields] + ["results_link"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Failed")
    def failed_link(self, obj: SyncRun) -> str:
        if not obj.failed:
            return "0"
        url = reverse("admin:syncadmin_accountresult_changelist")
        return format_html(
            '<a href="{}?run__id__exact={}&outcome__exact=failed">{}</a>', url, obj.pk, obj.failed
        )

    @admin.display(description="Duration")
    def duration_display(self, obj: SyncRun) -> str:
        return (
            "running"
            if obj.duration is None and obj.status == SyncRun.Status.RUNNING
            else (f"{obj.duration:.1f} s" if obj.duration is not None else "—")
        )

    @admin.display(description="Results")
    def results_link(self, obj: SyncRun) -> str:
        url = reverse("admin:syncadmin_accountresult_changelist")
        return format_html(
            '<a href="{}?run__id__exact={}">Every account of this run</a>', url, obj.pk
        )

    def get_urls(self) -> list[Any]:
        return [
            path(
                "run-now/",
                self.admin_site.admin_view(self.run_now_view),
                name="syncadmin_syncrun_run_now",
            ),
            *super().get_urls(),
        ]

    def run_now_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            raise PermissionDenied
        if not request.user.has_perm("syncadmin.run_sync"):
            raise PermissionDenied
        sync_run_queue(trigger=SyncRun.Trigger.MANUAL, user=request.user)
        self.message_user(
            request, "A sync run is queued; it appears here when the worker starts it."
        )
        return HttpResponseRedirect(reverse("admin:syncadmin_syncrun_changelist"))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "can_run_sync": request.user.has_perm("syncadmin.run_sync"),
        }
        return super().changelist_view(request, extra_context)


class ErrorCodeFilter(admin.SimpleListFilter):
    title = "error code"
    parameter_name = "error_code"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        codes = (
            AccountResult.objects.filter(outcome="failed")
            .exclude(error_code="")
            .values_list("error_code", flat=True)
            .distinct()
            .order_by("error_code")[:50]
        )
        return [(c, c) for c in codes]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(error_code=self.value())
        return queryset


@admin.register(AccountResult)
class AccountResultAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "run_id",
        "source_number",
        "source_name",
        "outcome",
        "error_code",
        "short_message",
        "destination_id",
    )
    list_filter = ("outcome", ErrorCodeFilter)
    search_fields = ("=source_number", "source_name", "=source_id", "=destination_id")
    show_full_result_count = False
    list_select_related = False
    list_per_page = 50
    readonly_fields = [f.name for f in AccountResult._meta.fields] + ["changes_table"]
    exclude = ("changes",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        run_id = request.GET.get("run__id__exact")
        if run_id and run_id.isdigit():
            qs = qs.filter(run_id=int(run_id))
        return qs

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        if lookup == "run__id__exact":
            return True
        return super().lookup_allowed(lookup, value, request)

    @admin.display(description="Message")
    def short_message(self, obj: AccountResult) -> str:
        text = obj.error_message or obj.reason
        return text if len(text) <= 120 else text[:119] + "…"

    @admin.display(description="Changed fields (before → after)")
    def changes_table(self, obj: AccountResult) -> str:
        if not obj.changes:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((name, _show(before), _show(after)) for name, (before, after) in obj.changes.items()),
        )
        return format_html(
            "<table><tr><th>Field</th><th>Before</th><th>After</th></tr>{}</table>", rows
        )


def _show(value: Any) -> str:
    return "—" if value is None else str(value)


@admin.register(RecordLink)
class RecordLinkAdmin(admin.ModelAdmin):
    list_display = (
        "zuora_account_number",
        "zuora_account_id",
        "netsuite_entity_id",
        "netsuite_internal_id",
        "origin",
        "linked_by",
        "linked_at",
        "last_synced_at",
    )
    list_filter = ("origin", "writeback_pending")
    search_fields = (
        "=zuora_account_number",
        "=zuora_account_id",
        "=netsuite_internal_id",
        "=netsuite_entity_id",
    )
    show_full_result_count = False
    list_select_related = ("linked_by",)
    readonly_fields = [f.name for f in RecordLink._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
