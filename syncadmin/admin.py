"""Thin admin classes: listing, filtering and forms; every action calls a service."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme

from connectors.http import ApiError
from syncadmin.charts import runs_chart_svg
from syncadmin.csvutil import csv_safe
from syncadmin.forms import (
    LinkForm,
    LinkImportForm,
    LinkSearchForm,
    NetSuiteConnectionForm,
    SyncPreferencesForm,
    ZuoraConnectionForm,
)
from syncadmin.models import (
    AccountResult,
    Direction,
    IgnoredAccount,
    LinkEvent,
    LinkImport,
    MatchSuggestion,
    NetSuiteConnection,
    Outcome,
    RecordLink,
    SyncPreferences,
    SyncRun,
    ZuoraConnection,
    name_search_key,
)
from syncadmin.paginator import CappedCountPaginator
from syncadmin.selectors import (
    error_code_counts,
    error_hint,
    run_current,
    run_progress,
    runs_chart,
    runs_latest,
)
from syncadmin.services.connections import (
    ConnectionNotConfigured,
    netsuite_connection_test,
    zuora_connection_test,
)
from syncadmin.services.linking import (
    ImportRejected,
    ImportStatus,
    LinkRefused,
    link_import_apply,
    link_import_preview,
    link_import_report_csv,
    netsuite_customers_search,
    record_link_create,
    record_link_delete,
    zuora_accounts_search,
)
from syncadmin.services.matching import (
    match_suggestions_approve,
    match_suggestions_generate,
    match_suggestions_reject,
)
from syncadmin.services.preferences import preferences_update
from syncadmin.services.results import account_results_retry, accounts_ignore, accounts_unignore
from syncadmin.services.runs import runs_interrupted_close, sync_run_queue


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
    paginator = CappedCountPaginator
    # Sorting by an unindexed column would scan every run; these orderings use an index.
    sortable_by = ("id", "started_at")
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
            path(
                "dashboard/",
                self.admin_site.admin_view(self.dashboard_view),
                name="syncadmin_syncrun_dashboard",
            ),
            path(
                "progress/",
                self.admin_site.admin_view(self.progress_view),
                name="syncadmin_syncrun_progress",
            ),
            *super().get_urls(),
        ]

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        connections = []
        for model in (ZuoraConnection, NetSuiteConnection):
            model_admin = self.admin_site._registry[model]
            connection = model.load()
            connections.append(
                {
                    "name": model._meta.verbose_name,
                    "connection": connection,
                    "test_url": reverse(f"admin:syncadmin_{model._meta.model_name}_test"),
                    "change_url": reverse(
                        f"admin:syncadmin_{model._meta.model_name}_change", args=[1]
                    ),
                    "can_test": model_admin.has_test_permission(request),
                }
            )
        runs_interrupted_close()  # a run whose process died never shows as running
        context = {
            **self.admin_site.each_context(request),
            "title": "Sync dashboard",
            "opts": self.model._meta,
            "progress": run_progress(run_current()),
            "runs": runs_latest(limit=10),
            "chart": runs_chart_svg(runs_chart(days=30)),
            "connections": connections,
            "can_run_sync": request.user.has_perm("syncadmin.run_sync"),
            "results_url": reverse("admin:syncadmin_accountresult_changelist"),
        }
        return TemplateResponse(request, "admin/syncadmin/dashboard.html", context)

    def progress_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        runs_interrupted_close()
        return JsonResponse({"run": run_progress(run_current())})

    def run_now_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            raise PermissionDenied
        if not request.user.has_perm("syncadmin.run_sync"):
            raise PermissionDenied
        sync_run_queue(trigger=SyncRun.Trigger.MANUAL, user=request.user)
        self.message_user(
            request, "A sync run is queued; it appears here when the worker starts it."
        )
        next_url = reverse("admin:syncadmin_syncrun_changelist")
        if request.POST.get("next") == "dashboard":
            next_url = reverse("admin:syncadmin_syncrun_dashboard")
        return HttpResponseRedirect(next_url)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "can_run_sync": request.user.has_perm("syncadmin.run_sync"),
        }
        return super().changelist_view(request, extra_context)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by services: viewable, never added, changed or deleted by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(f"syncadmin.{permission}"):
        raise PermissionDenied


class _Echo:
    def write(self, value: str) -> str:
        return value


class ErrorCodeFilter(admin.SimpleListFilter):
    title = "error code (failed accounts)"
    parameter_name = "error_code"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        run_id = request.GET.get("run__id__exact", "")
        counts = error_code_counts(run_id=int(run_id) if run_id.isdigit() else None)
        return [(code, f"{code} ({count})") for code, count in counts]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(error_code=self.value())
        return queryset


EXPORT_COLUMNS = (
    ("run_id", "run"),
    ("created_at", "time"),
    ("source_id", "source id"),
    ("source_number", "source number"),
    ("source_name", "source name"),
    ("outcome", "outcome"),
    ("error_code", "error code"),
    ("error_message", "message"),
    ("reason", "reason"),
    ("destination_id", "destination id"),
)


@admin.register(AccountResult)
class AccountResultAdmin(ReadOnlyAdmin):
    list_display = (
        "source_number",
        "source_name",
        "outcome",
        "error_code",
        "short_message",
        "run_id",
        "created_at",
        "destination_id",
    )
    list_display_links = ("source_number",)
    list_filter = ("outcome", ErrorCodeFilter)
    # What the search box matches; get_search_results implements it with indexed lookups only.
    search_fields = ("=source_number", "=source_id", "=destination_id", "^source_name")
    search_help_text = (
        "Finds an account number, Zuora or NetSuite id typed in full, or accounts whose name "
        "starts with what you type (any case): “acme c” finds “ACME Corp”, “corp” does not."
    )
    show_full_result_count = False
    paginator = CappedCountPaginator
    sortable_by = ("created_at",)
    list_select_related = False
    list_per_page = 50
    readonly_fields = [f.name for f in AccountResult._meta.fields if f.name != "name_key"] + [
        "what_to_fix",
        "changes_table",
        "link_by_hand",
    ]
    exclude = ("changes",)
    change_list_template = "admin/syncadmin/accountresult/change_list.html"
    actions = ["retry_selected", "ignore_selected"]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("syncadmin.retry_accounts")

    def has_ignore_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("syncadmin.ignore_accounts")

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

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        # The whole term, not word by word: "Acme Corp 2" is the start of one name, and its
        # words must not also match unrelated ids (a NetSuite id "2"). Every branch is an index
        # lookup; a substring search would read all rows of a million-row table per request.
        term = search_term.strip()
        if len(term) > 1 and term[0] == term[-1] and term[0] in "\"'":
            # Quotes, Django's way to keep a phrase together, are redundant here: dropped.
            term = term[1:-1].strip()
        if not term:
            return queryset, False
        match = Q(source_number=term) | Q(source_id=term) | Q(destination_id=term)
        key = name_search_key(term)[: AccountResult._meta.get_field("name_key").max_length]
        if key:
            match |= Q(name_key__startswith=key)
        return queryset.filter(match), False

    @admin.display(description="Message")
    def short_message(self, obj: AccountResult) -> str:
        text = obj.error_message or obj.reason
        text = text if len(text) <= 120 else text[:119] + "…"
        # A readable width: without it the table squeezes the message into a tall sliver.
        return format_html('<span style="display:inline-block;min-width:24em">{}</span>', text)

    @admin.display(description="What to fix")
    def what_to_fix(self, obj: AccountResult) -> str:
        return error_hint(obj.error_code) or "—"

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

    @admin.display(description="Link by hand")
    def link_by_hand(self, obj: AccountResult) -> str:
        if obj.outcome not in (Outcome.FAILED, Outcome.NEEDS_REVIEW, Outcome.SKIPPED):
            return "—"
        from_zuora = obj.run.direction == Direction.ZUORA_TO_NETSUITE
        key = "zuora_q" if from_zuora else "netsuite_q"
        url = reverse("admin:syncadmin_recordlink_link")
        return format_html(
            '<a href="{}?{}={}">Find its {} record and link it by hand</a>',
            url,
            key,
            obj.source_number or obj.source_id,
            "NetSuite" if from_zuora else "Zuora",
        )

    @admin.action(description="Retry selected accounts now", permissions=["retry"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        report = account_results_retry(results=queryset[:5000], user=request.user)
        if report.task_id:
            self.message_user(
                request,
                f"A retry of {len(report.account_ids)} account(s) is queued; follow it on the "
                "dashboard.",
            )
        notes = []
        if report.ignored:
            notes.append(f"{report.ignored} ignored account(s) left out")
        if report.other_direction:
            notes.append(f"{report.other_direction} result(s) of the other direction left out")
        if report.over_limit:
            notes.append(f"{report.over_limit} account(s) over the limit of one retry left out")
        if notes or not report.task_id:
            self.message_user(request, "; ".join(notes) or "Nothing to retry.", messages.WARNING)

    @admin.action(
        description="Ignore: take the selected accounts out of the sync", permissions=["ignore"]
    )
    def ignore_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = accounts_ignore(results=queryset[:5000], user=request.user)
        url = reverse("admin:syncadmin_ignoredaccount_changelist")
        self.message_user(
            request,
            format_html(
                '{} account(s) taken out of the sync. Undo under <a href="{}">Ignored '
                "accounts</a>.",
                count,
                url,
            ),
        )

    def get_urls(self) -> list[Any]:
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="syncadmin_accountresult_export",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """The current filter and search of the list, as CSV, streamed (any size)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        rows = (
            changelist.get_queryset(request)
            .values_list(*(name for name, _ in EXPORT_COLUMNS))
            .iterator(chunk_size=2000)
        )
        writer = csv.writer(_Echo())

        def lines() -> Iterator[str]:
            yield writer.writerow([label for _, label in EXPORT_COLUMNS] + ["what to fix"])
            for row in rows:
                code = row[6]
                yield writer.writerow([csv_safe(v) for v in row] + [error_hint(code)])

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="account-results.csv"'
        return response

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(
            request,
            {
                **(extra_context or {}),
                "export_url": reverse("admin:syncadmin_accountresult_export"),
            },
        )


def _show(value: Any) -> str:
    return "—" if value is None else str(value)


@admin.register(RecordLink)
class RecordLinkAdmin(ReadOnlyAdmin):
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
    paginator = CappedCountPaginator
    sortable_by = ("linked_at",)
    list_select_related = ("linked_by",)
    readonly_fields = [f.name for f in RecordLink._meta.fields if f.name != "last_payload"] + [
        "history"
    ]
    exclude = ("last_payload",)
    change_list_template = "admin/syncadmin/recordlink/change_list.html"
    change_form_template = "admin/syncadmin/recordlink/change_form.html"

    def has_link_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("syncadmin.link_records")

    @admin.display(description="History (who linked or unlinked, and when)")
    def history(self, obj: RecordLink) -> str:
        events = LinkEvent.objects.filter(
            Q(zuora_account_id=obj.zuora_account_id)
            | Q(netsuite_internal_id=obj.netsuite_internal_id)
        ).select_related("user")[:50]
        if not events:
            return "No recorded link or unlink (linked by the sync)."
        rows = format_html_join(
            "",
            "<tr><td>{} UTC</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{e.at:%Y-%m-%d %H:%M}",
                    e.get_action_display(),
                    e.user.get_username() if e.user else "—",
                    f"Zuora {e.zuora_account_number or e.zuora_account_id} ↔ NetSuite "
                    f"{e.netsuite_entity_id or e.netsuite_internal_id}",
                    e.note,
                )
                for e in events
            ),
        )
        return format_html(
            '<table id="link-history"><tr><th>When</th><th>What</th><th>Who</th><th>Pair</th>'
            "<th>Note</th></tr>{}</table>",
            rows,
        )

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("link/", view(self.link_view), name="syncadmin_recordlink_link"),
            path("<int:pk>/unlink/", view(self.unlink_view), name="syncadmin_recordlink_unlink"),
            path("import/", view(self.import_view), name="syncadmin_recordlink_import"),
            path(
                "import/<int:pk>/",
                view(self.import_preview_view),
                name="syncadmin_recordlink_import_preview",
            ),
            path(
                "import/<int:pk>/report.csv",
                view(self.import_report_view),
                name="syncadmin_recordlink_import_report",
            ),
            *super().get_urls(),
        ]

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            **extra,
        }

    def link_view(self, request: HttpRequest) -> HttpResponse:
        """Search both live systems, pick one record on each side, link them."""
        _require(request, "link_records")
        search = LinkSearchForm(request.GET or None)
        form = LinkForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                link = record_link_create(
                    zuora_key=form.cleaned_data["zuora_account"],
                    netsuite_key=form.cleaned_data["netsuite_customer"],
                    user=request.user,
                )
            except (LinkRefused, ConnectionNotConfigured) as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"Linked: {link}.")
                return HttpResponseRedirect(
                    reverse("admin:syncadmin_recordlink_change", args=[link.pk])
                )
        zuora_results: list[Any] = []
        netsuite_results: list[Any] = []
        errors: list[str] = []
        if search.is_valid():
            for label, query, finder, target in (
                ("Zuora", search.cleaned_data["zuora_q"], zuora_accounts_search, zuora_results),
                (
                    "NetSuite",
                    search.cleaned_data["netsuite_q"],
                    netsuite_customers_search,
                    netsuite_results,
                ),
            ):
                if not query:
                    continue
                try:
                    target.extend(finder(query))
                except (ApiError, ConnectionNotConfigured) as exc:
                    errors.append(f"{label} search failed: {exc}")
        linked_zuora = set(
            RecordLink.objects.filter(
                zuora_account_id__in=[r.id for r in zuora_results]
            ).values_list("zuora_account_id", flat=True)
        )
        linked_netsuite = set(
            RecordLink.objects.filter(
                netsuite_internal_id__in=[r.internal_id for r in netsuite_results]
            ).values_list("netsuite_internal_id", flat=True)
        )
        context = self._context(
            request,
            "Link records by hand",
            search=search,
            form=form,
            zuora_results=[(r, r.id in linked_zuora) for r in zuora_results],
            netsuite_results=[(r, r.internal_id in linked_netsuite) for r in netsuite_results],
            search_errors=errors,
            searched=bool(request.GET),
        )
        return TemplateResponse(request, "admin/syncadmin/recordlink/link.html", context)

    def unlink_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        _require(request, "link_records")
        link = get_object_or_404(RecordLink.objects.select_related("linked_by"), pk=pk)
        if request.method == "POST":
            record_link_delete(link=link, user=request.user)
            self.message_user(request, f"Unlinked {link}. The history keeps who and when.")
            return HttpResponseRedirect(reverse("admin:syncadmin_recordlink_changelist"))
        context = self._context(request, "Unlink these records?", link=link)
        return TemplateResponse(request, "admin/syncadmin/recordlink/unlink_confirm.html", context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        _require(request, "link_records")
        form = LinkImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                link_import = link_import_preview(
                    content=upload.read(), filename=upload.name, user=request.user
                )
            except (ImportRejected, ApiError, ConnectionNotConfigured) as exc:
                form.add_error("file", str(exc))
            else:
                return HttpResponseRedirect(
                    reverse("admin:syncadmin_recordlink_import_preview", args=[link_import.pk])
                )
        context = self._context(request, "Import links from a CSV", form=form)
        return TemplateResponse(request, "admin/syncadmin/recordlink/import.html", context)

    def import_preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        _require(request, "link_records")
        link_import = get_object_or_404(LinkImport, pk=pk)
        if request.method == "POST":
            try:
                link_import = link_import_apply(link_import=link_import, user=request.user)
            except ImportRejected as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                linked = sum(1 for r in link_import.rows if r["result"] == "linked")
                self.message_user(request, f"{linked} link(s) saved; download the report.")
            return HttpResponseRedirect(
                reverse("admin:syncadmin_recordlink_import_preview", args=[link_import.pk])
            )
        counts: dict[str, int] = {}
        for row in link_import.rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        context = self._context(
            request,
            f"Link import {link_import.pk}: {link_import.filename}",
            link_import=link_import,
            rows=link_import.rows,
            counts=[(ImportStatus.LABELS[k], counts.get(k, 0)) for k in ImportStatus.LABELS],
            ok_count=counts.get(ImportStatus.OK, 0),
            labels=ImportStatus.LABELS,
            applied=link_import.status == LinkImport.Status.APPLIED,
        )
        return TemplateResponse(request, "admin/syncadmin/recordlink/import_preview.html", context)

    def import_report_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        _require(request, "link_records")
        link_import = get_object_or_404(LinkImport, pk=pk)
        response = HttpResponse(link_import_report_csv(link_import), content_type="text/csv")
        response["Content-Disposition"] = (
            f'attachment; filename="link-import-{link_import.pk}-report.csv"'
        )
        return response

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        context["can_link"] = self.has_link_permission(request)
        return super().render_change_form(request, context, *args, **kwargs)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(
            request, {**(extra_context or {}), "can_link": self.has_link_permission(request)}
        )


@admin.register(LinkEvent)
class LinkEventAdmin(ReadOnlyAdmin):
    list_display = (
        "at",
        "action",
        "user",
        "zuora_account_number",
        "zuora_account_id",
        "netsuite_entity_id",
        "netsuite_internal_id",
        "note",
    )
    list_filter = ("action",)
    search_fields = (
        "=zuora_account_number",
        "=zuora_account_id",
        "=netsuite_internal_id",
        "=netsuite_entity_id",
    )
    list_select_related = ("user",)
    show_full_result_count = False
    paginator = CappedCountPaginator
    sortable_by = ("at",)


@admin.register(LinkImport)
class LinkImportAdmin(ReadOnlyAdmin):
    list_display = ("id", "filename", "uploaded_by", "created_at", "status", "open_link")
    list_select_related = ("uploaded_by",)
    exclude = ("rows",)

    @admin.display(description="Preview and report")
    def open_link(self, obj: LinkImport) -> str:
        url = reverse("admin:syncadmin_recordlink_import_preview", args=[obj.pk])
        return format_html('<a href="{}">Open</a>', url)


@admin.register(MatchSuggestion)
class MatchSuggestionAdmin(ReadOnlyAdmin):
    list_display = (
        "confidence",
        "strong",
        "zuora_account_number",
        "zuora_name",
        "netsuite_entity_id",
        "netsuite_name",
        "reason",
        "status",
    )
    list_filter = ("status", "strong", "rule")
    search_fields = (
        "=zuora_account_number",
        "=zuora_account_id",
        "=netsuite_internal_id",
        "=netsuite_entity_id",
        "zuora_name",
        "netsuite_name",
    )
    list_select_related = False
    show_full_result_count = False
    paginator = CappedCountPaginator
    sortable_by = ("confidence",)
    actions = ["approve_selected", "reject_selected"]
    change_list_template = "admin/syncadmin/matchsuggestion/change_list.html"

    def has_link_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("syncadmin.link_records")

    @admin.action(description="Approve: link the selected pairs", permissions=["link"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        try:
            linked, refused = match_suggestions_approve(
                suggestions=list(queryset[:2000]), user=request.user
            )
        except (ApiError, ConnectionNotConfigured) as exc:
            self.message_user(request, f"Could not check the ids: {exc}", messages.ERROR)
            return
        if linked:
            self.message_user(request, f"{len(linked)} pair(s) linked.")
        for suggestion, reason in refused[:20]:
            self.message_user(request, f"{suggestion}: not linked, {reason}", messages.WARNING)

    @admin.action(description="Reject: these are different customers", permissions=["link"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = match_suggestions_reject(suggestions=list(queryset[:5000]), user=request.user)
        self.message_user(request, f"{count} suggestion(s) rejected; the sync may create them.")

    def get_urls(self) -> list[Any]:
        return [
            path(
                "generate/",
                self.admin_site.admin_view(self.generate_view),
                name="syncadmin_matchsuggestion_generate",
            ),
            *super().get_urls(),
        ]

    def generate_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            raise PermissionDenied
        _require(request, "link_records")
        try:
            found = match_suggestions_generate()
        except (ApiError, ConnectionNotConfigured) as exc:
            self.message_user(request, f"Could not read the systems: {exc}", messages.ERROR)
        else:
            self.message_user(
                request,
                f"Compared {found['zuora_unlinked']} unlinked Zuora accounts with "
                f"{found['netsuite_unlinked']} unlinked NetSuite customers: "
                f"{found['suggestions']} suggestion(s), {found['strong']} strong.",
            )
        return HttpResponseRedirect(reverse("admin:syncadmin_matchsuggestion_changelist"))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(
            request, {**(extra_context or {}), "can_link": self.has_link_permission(request)}
        )


@admin.register(IgnoredAccount)
class IgnoredAccountAdmin(ReadOnlyAdmin):
    list_display = (
        "source_number",
        "source_name",
        "source_id",
        "direction",
        "ignored_by",
        "ignored_at",
    )
    list_filter = ("direction",)
    search_fields = ("=source_number", "=source_id", "source_name")
    list_select_related = ("ignored_by",)
    show_full_result_count = False
    paginator = CappedCountPaginator
    actions = ["unignore_selected"]

    def has_ignore_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("syncadmin.ignore_accounts")

    @admin.action(description="Put the selected accounts back in the sync", permissions=["ignore"])
    def unignore_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = accounts_unignore(ignored=list(queryset[:5000]), user=request.user)
        self.message_user(
            request, f"{count} account(s) are back in the sync; a run of them has been queued."
        )
