"""Open problems: the finance admin's inbox. One row per record whose latest result failed or
waits for review, gone once it succeeds, is linked or is ignored; the full history stays under
Account results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from syncadmin.admin.common import ReadOnlyAdmin
from syncadmin.csvutil import csv_download
from syncadmin.models import AccountResult, Direction, OpenProblem, Outcome
from syncadmin.paginator import CappedCountPaginator
from syncadmin.problem_selectors import (
    OPEN_OUTCOMES,
    VendorUrls,
    open_problem_counts,
    open_problems,
    record_label,
    vendor_urls,
)
from syncadmin.selectors import account_results_search, error_hint
from syncadmin.services.results import account_results_retry, accounts_ignore

REVIEW_CODE = "NEEDS_REVIEW"


def _time(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _code(problem: AccountResult) -> str:
    return problem.error_code or (REVIEW_CODE if problem.outcome == Outcome.NEEDS_REVIEW else "")


def _hint(problem: AccountResult) -> str:
    if problem.outcome == Outcome.NEEDS_REVIEW and not problem.error_code:
        return "Approve or reject the match under Match suggestions; the next run follows."
    return error_hint(problem.error_code)


def _run_filter(queryset: QuerySet, run_id: str | None) -> QuerySet:
    return queryset.filter(run_id=int(run_id)) if run_id and run_id.isdigit() else queryset


class ProblemCodeFilter(admin.SimpleListFilter):
    title = "error code"
    parameter_name = "code"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        problems = _run_filter(model_admin.get_queryset(request), request.GET.get("run"))
        return [(code, f"{code} ({count})") for code, count in open_problem_counts(problems)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == REVIEW_CODE:
            return queryset.filter(outcome=Outcome.NEEDS_REVIEW, error_code="")
        if self.value():
            return queryset.filter(error_code=self.value())
        return queryset


class ProblemRunFilter(admin.SimpleListFilter):
    title = "run (latest attempt)"
    parameter_name = "run"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        runs = (
            model_admin.get_queryset(request)
            .order_by("-run_id")
            .values_list("run_id", flat=True)
            .distinct()[:20]
        )
        return [(str(run), f"Run {run}") for run in runs]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return _run_filter(queryset, self.value())


class ProblemDirectionFilter(admin.SimpleListFilter):
    title = "direction"
    parameter_name = "direction"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(Direction.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(direction=self.value()) if self.value() else queryset


@admin.register(OpenProblem)
class OpenProblemAdmin(ReadOnlyAdmin):
    list_filter = (ProblemCodeFilter, ProblemRunFilter, ProblemDirectionFilter)
    search_fields = ("=source_number", "=source_id", "^source_name")
    search_help_text = "Finds an account number or id typed in full, or names starting with it."
    sortable_by = ("failing_since", "attempts")
    list_per_page = 50
    show_full_result_count = False
    paginator = CappedCountPaginator
    change_list_template = "admin/syncadmin/openproblem/change_list.html"
    actions = ["retry_selected", "ignore_selected"]

    # Viewing the inbox is viewing account results: the roles need no permission of their own.
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("syncadmin.view_accountresult")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("syncadmin.retry_accounts")

    def has_ignore_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("syncadmin.ignore_accounts")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return open_problems(rows=OpenProblem.objects.all())

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip().strip("\"'").strip()
        if not term:
            return queryset, False
        return account_results_search(queryset, term=term), False

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        return [
            "record",
            "since",
            "attempt_count",
            "code",
            "message",
            _actions_column(request),
        ]

    def get_list_display_links(self, request: HttpRequest, list_display: Any) -> None:
        return None

    # Few, narrow columns: the table fits beside the menu and the filters without scrolling.
    @admin.display(description="Record")
    def record(self, obj: AccountResult) -> str:
        return format_html(
            '<a href="{}" class="problem-record">{}</a><div class="problem-direction">{}</div>',
            reverse("admin:syncadmin_accountresult_change", args=[obj.pk]),
            record_label(obj),
            Direction(obj.direction).label,
        )

    @admin.display(description="Failing since", ordering="failing_since")
    def since(self, obj: AccountResult) -> str:
        return format_html(
            '<span title="{}">{}</span>',
            _time(obj.failing_since),
            timezone.localtime(obj.failing_since).strftime("%-d %b %H:%M"),
        )

    @admin.display(description="Attempts", ordering="attempts")
    def attempt_count(self, obj: AccountResult) -> int:
        return obj.attempts

    @admin.display(description="Error code")
    def code(self, obj: AccountResult) -> str:
        # Long codes may break after an underscore, never inside a word.
        parts = _code(obj).replace("_", "_\n").split("\n")
        return format_html_join("", "{}<wbr>", ((part,) for part in parts))

    @admin.display(description="Message and what to fix")
    def message(self, obj: AccountResult) -> str:
        text = obj.error_message or obj.reason
        short = text if len(text) <= 160 else text[:159] + "…"
        return format_html(
            '<div class="problem-message" title="{}">{}</div>'
            '<div class="problem-hint"><strong>What to fix:</strong> {}</div>',
            text,
            short,
            _hint(obj) or "—",
        )

    # -- actions ---------------------------------------------------------------------------
    @admin.action(description="Retry selected records now", permissions=["retry"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        problems_retry(request, list(queryset[:5000]))

    @admin.action(
        description="Ignore: take the selected records out of the sync", permissions=["ignore"]
    )
    def ignore_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        problems_ignore(request, list(queryset[:5000]))

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("export/", view(self.export_view), name="syncadmin_openproblem_export"),
            path(
                "<int:pk>/retry/",
                view(require_POST(self.retry_view)),
                name="syncadmin_openproblem_retry",
            ),
            path(
                "<int:pk>/ignore/",
                view(require_POST(self.ignore_view)),
                name="syncadmin_openproblem_ignore",
            ),
            *super().get_urls(),
        ]

    def retry_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Retry one record now, from its row or its page (any of its results)."""
        if not self.has_retry_permission(request):
            raise PermissionDenied
        problems_retry(request, [get_object_or_404(AccountResult, pk=pk)])
        return self._back(request)

    def ignore_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_ignore_permission(request):
            raise PermissionDenied
        problems_ignore(request, [get_object_or_404(AccountResult, pk=pk)])
        return self._back(request)

    def _back(self, request: HttpRequest) -> HttpResponse:
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = reverse("admin:syncadmin_openproblem_changelist")
        return HttpResponseRedirect(target)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """The open problems under the current filters and search, as CSV (UTF-8 with BOM,
        so spreadsheets read names right; plain YYYY-MM-DD HH:MM:SS times)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        problems = self.get_changelist_instance(request).get_queryset(request)
        header = [
            "record number",
            "record name",
            "record id",
            "direction",
            "failing since",
            "attempts",
            "error code",
            "message",
            "what to fix",
            "latest run",
            "latest attempt",
        ]

        rows = (
            (
                problem.source_number,
                problem.source_name,
                problem.source_id,
                Direction(problem.direction).label,
                _time(problem.failing_since),
                problem.attempts,
                _code(problem),
                problem.error_message or problem.reason,
                _hint(problem),
                problem.run_id,
                _time(problem.created_at),
            )
            for problem in problems.iterator(chunk_size=500)
        )
        return csv_download(header, rows, filename="open-problems.csv")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(
            request,
            {
                **(extra_context or {}),
                "title": "Open problems",
                "export_url": reverse("admin:syncadmin_openproblem_export"),
                "history_url": reverse("admin:syncadmin_accountresult_changelist"),
            },
        )


def problems_retry(request: HttpRequest, results: list[AccountResult]) -> None:
    report = account_results_retry(results=results, user=request.user)
    if report.task_id:
        names = ", ".join(record_label(r) for r in results[:3])
        more = f" and {len(report.account_ids) - 3} more" if len(report.account_ids) > 3 else ""
        messages.success(
            request,
            f"A retry of {len(report.account_ids)} record(s) is queued ({names}{more}); "
            "fixed records leave Open problems when it finishes.",
        )
    notes = []
    if report.ignored:
        notes.append(f"{report.ignored} ignored record(s) left out")
    if report.other_direction:
        notes.append(
            f"{report.other_direction} record(s) of the other sync direction left out (the "
            "sync now runs the other way)"
        )
    if report.over_limit:
        notes.append(f"{report.over_limit} record(s) over the limit of one retry left out")
    if notes or not report.task_id:
        messages.warning(request, "; ".join(notes) or "Nothing to retry.")


def problems_ignore(request: HttpRequest, results: list[AccountResult]) -> None:
    count = accounts_ignore(results=results, user=request.user)
    names = ", ".join(record_label(r) for r in results[:3])
    messages.success(
        request,
        format_html(
            "{} record(s) taken out of the sync ({}). Undo under "
            '<a href="{}">Ignored accounts</a>.',
            count,
            names,
            reverse("admin:syncadmin_ignoredaccount_changelist"),
        ),
    )


def record_actions(
    request: HttpRequest, result: AccountResult, *, next_url: str, urls: VendorUrls
) -> str:
    """The buttons and links a person may use on one record: Retry now, Ignore (POST, through
    the form with id "problem-action" on the page), Link by hand, Open in Zuora / NetSuite."""
    user = request.user
    direction = getattr(result, "direction", None) or result.run.direction
    from_zuora = direction == Direction.ZUORA_TO_NETSUITE
    parts: list[tuple[str, ...]] = []
    if user.has_perm("syncadmin.retry_accounts") and result.outcome in OPEN_OUTCOMES:
        parts.append(
            (
                '<button type="submit" form="problem-action" class="button problem-retry" '
                'formaction="{}" name="next" value="{}">Retry now</button>',
                reverse("admin:syncadmin_openproblem_retry", args=[result.pk]),
                next_url,
            )
        )
    if user.has_perm("syncadmin.ignore_accounts"):
        parts.append(
            (
                '<button type="submit" form="problem-action" class="button problem-ignore" '
                'formaction="{}" name="next" value="{}">Ignore</button>',
                reverse("admin:syncadmin_openproblem_ignore", args=[result.pk]),
                next_url,
            )
        )
    if user.has_perm("syncadmin.link_records") and not result.destination_id:
        parts.append(
            (
                '<a class="problem-link" href="{}?{}={}">Link by hand</a>',
                reverse("admin:syncadmin_recordlink_link"),
                "zuora_q" if from_zuora else "netsuite_q",
                result.source_number or result.source_id,
            )
        )
    zuora_id = result.source_id if from_zuora else result.destination_id
    netsuite_id = result.destination_id if from_zuora else result.source_id
    for label, url in (
        ("Open in Zuora", urls.zuora_account(zuora_id)),
        ("Open in NetSuite", urls.netsuite_customer(netsuite_id)),
    ):
        if url:
            parts.append(('<a href="{}" target="_blank" rel="noopener">{}</a>', url, label))
    return format_html_join("", "<span>{}</span>", ((format_html(p[0], *p[1:]),) for p in parts))


def _actions_column(request: HttpRequest) -> Callable[[AccountResult], str]:
    """The actions column, bound to the request: each row shows what this user may do."""
    next_url = request.get_full_path()
    urls = vendor_urls()

    @admin.display(description="Actions")
    def actions(obj: AccountResult) -> str:
        return format_html(
            '<span class="problem-actions">{}</span>',
            record_actions(request, obj, next_url=next_url, urls=urls),
        )

    return actions
