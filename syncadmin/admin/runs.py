"""Sync runs: the list, the dashboard with its live progress, and "run now"."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from syncadmin.admin.common import SuperuserFieldsMixin, clipped, when
from syncadmin.charts import runs_per_day_svg
from syncadmin.hook_selectors import hook_summaries
from syncadmin.models import NetSuiteConnection, SyncRun, ZuoraConnection
from syncadmin.paginator import CappedCountPaginator
from syncadmin.problem_selectors import open_problems
from syncadmin.selectors import (
    run_current,
    run_progress,
    runs_latest,
    runs_per_day,
    setup_check_latest,
)
from syncadmin.services.runs import runs_interrupted_close, sync_run_queue
from syncadmin.services.setup_check import setup_check_run


def _running_run() -> SyncRun | None:
    return SyncRun.objects.filter(status=SyncRun.Status.RUNNING).order_by("-pk").first()


def _time_left(seconds: int | None) -> str:
    if seconds is None:
        return "estimating the time left"
    if seconds < 60:
        return "less than a minute left"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"about {minutes} minute{'s' if minutes != 1 else ''} left"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes:02d} min left"


def progress_sentence(progress: dict[str, Any] | None) -> str:
    """What the dashboard says about the current or latest run, as a sentence."""
    if progress is None:
        return "No run yet."
    run = f"Run {progress['id']}"
    counted = f"{progress['processed']:,} of {progress['total']:,} accounts"
    if progress["running"]:
        if not progress["total"]:
            return f"{run} is running: reading the changed records."
        rate = round(progress["rate_per_minute"])
        return (
            f"{run} is running: {counted} ({progress['percent']}%), "
            f"{_time_left(progress['seconds_left'])}, {rate:,} accounts a minute."
        )
    if progress["status"] == SyncRun.Status.SKIPPED:
        return f"{run} was skipped: {progress['message']}"
    if not progress["total"] and progress["message"]:  # stopped before it read anything
        return f"{run} finished: {progress['status_display']}. {progress['message']}"
    sentence = (
        f"{run} finished: {progress['status_display']}. {counted}: "
        f"{progress['created']:,} created, {progress['updated']:,} updated, "
        f"{progress['failed']:,} failed."
    )
    return f"{sentence} {progress['message']}" if progress["message"] else sentence


def progress_for_page(progress: dict[str, Any] | None) -> dict[str, Any] | None:
    """The progress with its sentence and, for a finished run with failures, their list."""
    if progress is None:
        return None
    failures_url = ""
    if not progress["running"] and progress["failed"]:
        failures_url = (
            reverse("admin:syncadmin_accountresult_changelist")
            + f"?run__id__exact={progress['id']}&outcome__exact=failed"
        )
    return {**progress, "sentence": progress_sentence(progress), "failures_url": failures_url}


@admin.register(SyncRun)
class SyncRunAdmin(SuperuserFieldsMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "started",
        "direction",
        "trigger",
        "status_and_why",
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
    sortable_by = ("id", "started")
    readonly_fields = [f.name for f in SyncRun._meta.fields] + ["results_link"]
    superuser_only_fields = ("watermark_before", "watermark_after", "api_calls", "lease_holder")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a run's record is the audit of what the sync did

    @admin.display(description="Started", ordering="started_at")
    def started(self, obj: SyncRun) -> str:
        return when(obj.started_at)

    @admin.display(description="Failed")
    def failed_link(self, obj: SyncRun) -> str:
        if not obj.failed:
            return "0"
        url = reverse("admin:syncadmin_accountresult_changelist")
        return format_html(
            '<a href="{}?run__id__exact={}&outcome__exact=failed">{}</a>', url, obj.pk, obj.failed
        )

    @admin.display(description="Status")
    def status_and_why(self, obj: SyncRun) -> str:
        if obj.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.RUNNING) or not obj.message:
            return obj.get_status_display()
        return format_html("{}<br>{}", obj.get_status_display(), clipped(obj.message, narrow=True))

    @admin.display(description="Duration")
    def duration_display(self, obj: SyncRun) -> str:
        if obj.status == SyncRun.Status.RUNNING:
            return "running"
        if obj.duration is None:
            return "—"
        # A skipped run stopped as it started; clocks of two machines may disagree by a little.
        seconds = max(obj.duration, 0.0)
        if seconds < 60:
            return f"{seconds:.1f} s"
        minutes, seconds = divmod(round(seconds), 60)
        if minutes < 60:
            return f"{minutes} min {seconds:02d} s"
        hours, minutes = divmod(minutes, 60)
        return f"{hours} h {minutes:02d} min"

    @admin.display(description="Results")
    def results_link(self, obj: SyncRun) -> str:
        url = reverse("admin:syncadmin_accountresult_changelist")
        every = format_html(
            '<a href="{}?run__id__exact={}">Every account of this run</a>', url, obj.pk
        )
        if not obj.failed:
            return every
        return format_html(
            '{} · <a href="{}?run__id__exact={}&outcome__exact=failed" id="run-failures">'
            "The {} failed account(s)</a>",
            every,
            url,
            obj.pk,
            obj.failed,
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
                "check-setup/",
                self.admin_site.admin_view(self.check_setup_view),
                name="syncadmin_syncrun_check_setup",
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
            "progress": progress_for_page(run_progress(run_current())),
            "runs": runs_latest(limit=10),
            "chart": runs_per_day_svg(runs_per_day(days=30)),
            "connections": connections,
            "setup_check": setup_check_latest(),
            "can_check_setup": self._may_check_setup(request),
            "can_run_sync": request.user.has_perm("syncadmin.run_sync"),
            "results_url": reverse("admin:syncadmin_accountresult_changelist"),
            "open_problems": open_problems().count()
            if request.user.has_perm("syncadmin.view_accountresult")
            else None,
            "hooks": hook_summaries()
            if request.user.has_perm("syncadmin.view_hooksettings")
            else None,
        }
        return TemplateResponse(request, "admin/syncadmin/dashboard.html", context)

    def _may_check_setup(self, request: HttpRequest) -> bool:
        # The checks only read, like Test connection: whoever may test a connection may run them.
        return any(
            self.admin_site._registry[model].has_test_permission(request)
            for model in (ZuoraConnection, NetSuiteConnection)
        )

    def check_setup_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or not self._may_check_setup(request):
            raise PermissionDenied
        result = setup_check_run(ran_by=request.user.get_username())
        failed = len(result.failed_checks)
        if failed:
            self.message_user(
                request,
                f"Check setup: {failed} of {len(result.checks)} checks failed; what to fix is "
                "listed under Setup.",
                messages.ERROR,
            )
        else:
            self.message_user(request, f"Check setup: all {len(result.checks)} checks passed.")
        return HttpResponseRedirect(reverse("admin:syncadmin_syncrun_dashboard"))

    def progress_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        runs_interrupted_close()
        return JsonResponse({"run": progress_for_page(run_progress(run_current()))})

    def run_now_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            raise PermissionDenied
        if not request.user.has_perm("syncadmin.run_sync"):
            raise PermissionDenied
        runs_interrupted_close()
        running = _running_run()
        if running is not None:
            self.message_user(
                request,
                f"Run {running.pk} is running; start another when it has finished.",
                messages.WARNING,
            )
        else:
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
        runs_interrupted_close()
        extra_context = {
            **(extra_context or {}),
            "can_run_sync": request.user.has_perm("syncadmin.run_sync"),
            "running": SyncRun.objects.filter(status=SyncRun.Status.RUNNING)
            .order_by("-pk")
            .first(),
        }
        return super().changelist_view(request, extra_context)
