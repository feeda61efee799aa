"""Account outcomes of the runs: what failed and why, retry, ignore, CSV export; and the
accounts taken out of the sync."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from syncadmin.admin.common import ReadOnlyAdmin, clipped, when
from syncadmin.admin.problems import record_actions
from syncadmin.csvutil import csv_download
from syncadmin.labels import change_rows, changes_text, value_text
from syncadmin.models import AccountResult, IgnoredAccount
from syncadmin.paginator import CappedCountPaginator
from syncadmin.problem_selectors import record_history, record_label, vendor_urls
from syncadmin.selectors import (
    account_results_search,
    added_field_labels,
    error_code_counts,
    error_hint,
)
from syncadmin.services.results import account_results_retry, accounts_ignore, accounts_unignore


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


# Row digests, ids and retry bookkeeping: what a superuser needs to debug the sync.
INTERNAL_FIELDS = ("source_id", "destination_id", "link", "retryable", "waiting_for")

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
        "name",
        "outcome",
        "error_code",
        "short_message",
        "run_link",
        "at",
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
    sortable_by = ("at",)
    list_select_related = False
    list_per_page = 50
    # The record page reads as a finance page; the internal fields are for superusers only.
    readonly_fields = (
        "record",
        "direction",
        "run",
        "outcome",
        "created_at",
        "error_code",
        "message",
        "what_to_fix",
        "changes_table",
        "warnings_list",
        "history",
        *INTERNAL_FIELDS,
        "changes_json",
    )
    change_form_template = "admin/syncadmin/accountresult/change_form.html"
    change_list_template = "admin/syncadmin/accountresult/change_list.html"
    actions = ["retry_selected", "ignore_selected"]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("syncadmin.retry_accounts")

    def has_ignore_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("syncadmin.ignore_accounts")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_readonly_fields(request, obj)
        if request.user.has_perm("syncadmin.link_records"):
            return fields
        # No link to a page the user may not open.
        return [name for name in fields if name != "link_by_hand"]

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
        term = search_term.strip()
        if len(term) > 1 and term[0] == term[-1] and term[0] in "\"'":
            # Quotes, Django's way to keep a phrase together, are redundant here: dropped.
            term = term[1:-1].strip()
        if not term:
            return queryset, False
        return account_results_search(queryset, term=term), False

    @admin.display(description="Name")
    def name(self, obj: AccountResult) -> str:
        return clipped(obj.source_name, narrow=True)

    @admin.display(description="Message")
    def short_message(self, obj: AccountResult) -> str:
        return clipped(obj.error_message or obj.reason)

    @admin.display(description="Run")
    def run_link(self, obj: AccountResult) -> str:
        url = reverse("admin:syncadmin_syncrun_change", args=[obj.run_id])
        return format_html('<a href="{}">{}</a>', url, obj.run_id)

    @admin.display(description="Time", ordering="created_at")
    def at(self, obj: AccountResult) -> str:
        return when(obj.created_at)

    @admin.display(description="What to fix")
    def what_to_fix(self, obj: AccountResult) -> str:
        return error_hint(obj.error_code) or "—"

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        fieldsets: list[Any] = [
            (
                None,
                {
                    "fields": (
                        "record",
                        "direction",
                        "run",
                        "outcome",
                        "created_at",
                        "error_code",
                        "message",
                        "what_to_fix",
                    )
                },
            ),
            ("What changed", {"fields": ("changes_table", "warnings_list")}),
            ("History of this record", {"fields": ("history",)}),
        ]
        if request.user.is_superuser:
            fieldsets.append(
                (
                    "Internal (superusers only)",
                    {"classes": ("collapse",), "fields": (*INTERNAL_FIELDS, "changes_json")},
                )
            )
        return fieldsets

    @admin.display(description="Record")
    def record(self, obj: AccountResult) -> str:
        return record_label(obj)

    @admin.display(description="Direction")
    def direction(self, obj: AccountResult) -> str:
        return obj.run.get_direction_display()

    @admin.display(description="Message")
    def message(self, obj: AccountResult) -> str:
        return obj.error_message or obj.reason or "—"

    @admin.display(description="Changed fields (before → after)")
    def changes_table(self, obj: AccountResult) -> str:
        rows = change_rows(obj.changes or {}, added_field_labels())
        if not rows:
            return "—"
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        return format_html(
            '<table id="changes-table"><tr><th>Field</th><th>Before</th><th>After</th></tr>{}'
            "</table>",
            body,
        )

    @admin.display(description="Warnings")
    def warnings_list(self, obj: AccountResult) -> str:
        if not obj.warnings:
            return "—"
        return format_html_join("", "<div>{}</div>", ((value_text(w),) for w in obj.warnings))

    @admin.display(description="Runs")
    def history(self, obj: AccountResult) -> str:
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">Run {}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:syncadmin_accountresult_change", args=[r.pk]),
                    r.run_id,
                    timezone.localtime(r.created_at).strftime("%Y-%m-%d %H:%M:%S"),
                    r.get_outcome_display(),
                    r.error_code or "",
                    r.error_message or r.reason,
                )
                for r in record_history(obj)
            ),
        )
        return format_html(
            '<table id="record-history"><tr><th>Run</th><th>Time</th><th>Outcome</th>'
            "<th>Error code</th><th>Message</th></tr>{}</table>",
            rows,
        )

    @admin.display(description="Changes as stored")
    def changes_json(self, obj: AccountResult) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.changes, indent=2, default=str))

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
            .values_list(*(name for name, _ in EXPORT_COLUMNS), "changes")
            .iterator(chunk_size=2000)
        )
        added = added_field_labels()
        header = [label for _, label in EXPORT_COLUMNS] + ["changed fields", "what to fix"]
        lines = ((*row, changes_text(changes, added), error_hint(row[6])) for *row, changes in rows)
        return csv_download(header, lines, filename="account-results.csv")

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

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if obj is not None:
            context["title"] = f"{record_label(obj)}: {obj.run.get_direction_display()}"
            context["record_actions"] = record_actions(
                request, obj, next_url=request.get_full_path(), urls=vendor_urls()
            )
        return super().change_view(request, object_id, form_url, context)


@admin.register(IgnoredAccount)
class IgnoredAccountAdmin(ReadOnlyAdmin):
    list_display = (
        "source_number",
        "name",
        "source_id",
        "direction",
        "ignored_by",
        "ignored",
    )
    list_filter = ("direction",)
    search_fields = ("=source_number", "=source_id", "source_name")
    list_select_related = ("ignored_by",)
    show_full_result_count = False
    paginator = CappedCountPaginator
    actions = ["unignore_selected"]

    def has_ignore_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("syncadmin.ignore_accounts")

    @admin.display(description="Name", ordering="source_name")
    def name(self, obj: IgnoredAccount) -> str:
        return clipped(obj.source_name, narrow=True)

    @admin.display(description="Ignored at", ordering="ignored_at")
    def ignored(self, obj: IgnoredAccount) -> str:
        return when(obj.ignored_at)

    @admin.action(description="Put the selected accounts back in the sync", permissions=["ignore"])
    def unignore_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = accounts_unignore(ignored=list(queryset[:5000]), user=request.user)
        self.message_user(
            request, f"{count} account(s) are back in the sync; a run of them has been queued."
        )
