"""Match suggestions waiting for review: approve, reject, look for new ones."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse

from connectors.http import ApiError
from syncadmin.admin.common import ReadOnlyAdmin, clipped, require_permission
from syncadmin.models import MatchSuggestion
from syncadmin.paginator import CappedCountPaginator
from syncadmin.services.connections import ConnectionNotConfigured
from syncadmin.services.matching import (
    match_suggestions_approve,
    match_suggestions_generate,
    match_suggestions_reject,
)


@admin.register(MatchSuggestion)
class MatchSuggestionAdmin(ReadOnlyAdmin):
    list_display = (
        "confidence",
        "strong",
        "zuora_account_number",
        "zuora",
        "netsuite_entity_id",
        "netsuite",
        "why",
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
    change_form_template = "admin/syncadmin/matchsuggestion/change_form.html"

    def has_link_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("syncadmin.link_records")

    @admin.display(description="Zuora name")
    def zuora(self, obj: MatchSuggestion) -> str:
        return clipped(obj.zuora_name, narrow=True)

    @admin.display(description="NetSuite name")
    def netsuite(self, obj: MatchSuggestion) -> str:
        return clipped(obj.netsuite_name, narrow=True)

    @admin.display(description="Why")
    def why(self, obj: MatchSuggestion) -> str:
        return clipped(obj.reason, narrow=True)

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
            path(
                "<int:pk>/review/",
                self.admin_site.admin_view(self.review_view),
                name="syncadmin_matchsuggestion_review",
            ),
            *super().get_urls(),
        ]

    def review_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Approve or reject one suggestion from its page."""
        if request.method != "POST":
            raise PermissionDenied
        require_permission(request, "link_records")
        suggestions = MatchSuggestion.objects.filter(pk=pk)
        if request.POST.get("decision") == "approve":
            self.approve_selected(request, suggestions)
        else:
            self.reject_selected(request, suggestions)
        return HttpResponseRedirect(reverse("admin:syncadmin_matchsuggestion_change", args=[pk]))

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        suggestion = context.get("original")
        context["can_review"] = (
            self.has_link_permission(request)
            and suggestion is not None
            and suggestion.status == MatchSuggestion.Status.PENDING
        )
        return super().render_change_form(request, context, *args, **kwargs)

    def generate_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            raise PermissionDenied
        require_permission(request, "link_records")
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
