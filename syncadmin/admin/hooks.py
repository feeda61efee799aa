"""Near-real-time: each system's hook (on/off, the shared secret, Zuora's Basic auth), what to
paste into Zuora and NetSuite, and the change notifications received."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from syncadmin.admin.common import ReadOnlyAdmin, clipped, when
from syncadmin.hook_selectors import hook_events_latest, hook_summaries
from syncadmin.models import HookEvent, HookSettings, Master
from syncadmin.paginator import CappedCountPaginator
from syncadmin.services.hooks import (
    SYSTEM_NAMES,
    hook_basic_auth_set,
    hook_enabled_set,
    hook_secret_generate,
)

SUITESCRIPT_README = "connectors/netsuite/suitescript/README.md"


@admin.register(HookSettings)
class NearRealTimeAdmin(admin.ModelAdmin):
    """One page for both hooks: viewers read it, Sync admins change it. A secret or password
    is shown in the answer to the press that generated it, never again."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def change_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:syncadmin_hooksettings_changelist"))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        shown: dict[str, str] = {}
        errors: dict[str, str] = {}
        if request.method == "POST":
            if not self.has_change_permission(request):
                raise PermissionDenied
            system = request.POST.get("system", "")
            if system not in Master.values:
                raise PermissionDenied
            outcome = self._act(request, system, request.POST.get("action", ""), errors)
            if isinstance(outcome, HttpResponse):
                return outcome
            shown = {"system": system, **outcome} if outcome else {}
        response = self._page(request, shown, errors)
        if shown:
            # The one answer that carries a secret: never kept by a browser or a proxy.
            response["Cache-Control"] = "no-store"
        return response

    def _act(
        self, request: HttpRequest, system: str, action: str, errors: dict[str, str]
    ) -> HttpResponse | dict[str, str]:
        name = SYSTEM_NAMES[system]
        if action in ("enable", "disable"):
            hook_enabled_set(system=system, enabled=action == "enable")
            self.message_user(
                request,
                f"Near-real-time sync of {name} changes is "
                + ("on." if action == "enable" else "off; the scheduled run still syncs them."),
            )
            return HttpResponseRedirect(request.path)
        if action == "generate_secret":
            secret = hook_secret_generate(system=system)
            self.message_user(
                request,
                f"A new shared secret for the {name} hook is shown below, once: copy it now. "
                "Calls signed with the previous one are refused from now on.",
                messages.WARNING,
            )
            return {"secret": secret}
        if action == "basic_auth" and system == Master.ZUORA:
            username = request.POST.get("basic_username", "").strip()
            if ":" in username or len(username) > 100:
                errors["basic_username"] = (
                    "A user name may not contain a colon (:) and has at most 100 characters."
                )
                return {}
            password = hook_basic_auth_set(username=username)
            if not username:
                self.message_user(request, "Basic auth for the Zuora hook is off.")
                return HttpResponseRedirect(request.path)
            self.message_user(
                request,
                "A new Basic auth password for the Zuora hook is shown below, once: copy it "
                "into Zuora's callout now.",
                messages.WARNING,
            )
            return {"password": password}
        raise PermissionDenied

    def _page(
        self, request: HttpRequest, shown: dict[str, str], errors: dict[str, str]
    ) -> TemplateResponse:
        summaries = hook_summaries()
        for summary in summaries:
            summary.events = hook_events_latest(system=summary.system)
        context = {
            **self.admin_site.each_context(request),
            "title": "Near-real-time sync",
            "opts": self.model._meta,
            "summaries": summaries,
            "shown": shown,
            "can_change": self.has_change_permission(request),
            "errors": errors,
            "suitescript_readme": SUITESCRIPT_README,
            "events_url": reverse("admin:syncadmin_hookevent_changelist"),
        }
        return TemplateResponse(
            request, "admin/syncadmin/hooksettings/near_real_time.html", context
        )


@admin.register(HookEvent)
class HookEventAdmin(ReadOnlyAdmin):
    list_display = ("received", "system", "event_type", "record_key", "outcome", "why", "run_link")
    list_filter = ("system", "outcome")
    search_fields = ("=record_key", "=source_id")
    show_full_result_count = False
    paginator = CappedCountPaginator
    sortable_by = ("received",)
    fields = (
        "received_at",
        "system",
        "event_type",
        "record_key",
        "source_id",
        "outcome",
        "message",
        "run",
    )

    @admin.display(description="Received", ordering="received_at")
    def received(self, obj: HookEvent) -> str:
        return when(obj.received_at)

    @admin.display(description="What happened")
    def why(self, obj: HookEvent) -> str:
        return clipped(obj.message, narrow=True) if obj.message else ""

    @admin.display(description="Run")
    def run_link(self, obj: HookEvent) -> str:
        if obj.run_id is None:
            return "—"
        url = reverse("admin:syncadmin_syncrun_change", args=[obj.run_id])
        return format_html('<a href="{}">Run {}</a>', url, obj.run_id)
