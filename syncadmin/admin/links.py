"""Record links: the list, linking and unlinking by hand, CSV import, and their history."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from connectors.http import ApiError
from syncadmin.admin.common import (
    ReadOnlyAdmin,
    SuperuserFieldsMixin,
    clipped,
    require_permission,
    when,
)
from syncadmin.forms import LinkForm, LinkImportForm, LinkSearchForm
from syncadmin.models import LinkEvent, LinkImport, RecordLink
from syncadmin.paginator import CappedCountPaginator
from syncadmin.selectors import link_history, linked_netsuite_internal_ids, linked_zuora_account_ids
from syncadmin.services.connections import ConnectionNotConfigured
from syncadmin.services.link_import import (
    ImportRejected,
    ImportStatus,
    link_import_apply,
    link_import_preview,
    link_import_report_csv,
)
from syncadmin.services.linking import (
    LinkRefused,
    netsuite_customers_search,
    record_link_create,
    record_link_delete,
    zuora_accounts_search,
)


@admin.register(RecordLink)
class RecordLinkAdmin(SuperuserFieldsMixin, ReadOnlyAdmin):
    list_display = (
        "zuora_account_number",
        "zuora_account_id",
        "netsuite_entity",
        "netsuite_internal_id",
        "origin",
        "linked_by",
        "linked",
        "last_synced",
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
    sortable_by = ("linked",)
    list_select_related = ("linked_by",)
    readonly_fields = [f.name for f in RecordLink._meta.fields if f.name != "last_payload"] + [
        "history"
    ]
    exclude = ("last_payload",)
    superuser_only_fields = ("last_payload_hash",)
    change_list_template = "admin/syncadmin/recordlink/change_list.html"
    change_form_template = "admin/syncadmin/recordlink/change_form.html"

    def has_link_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("syncadmin.link_records")

    @admin.display(description="NetSuite entity id")
    def netsuite_entity(self, obj: RecordLink) -> str:
        return clipped(obj.netsuite_entity_id, narrow=True)

    @admin.display(description="Linked at", ordering="linked_at")
    def linked(self, obj: RecordLink) -> str:
        return when(obj.linked_at)

    @admin.display(description="Last synced")
    def last_synced(self, obj: RecordLink) -> str:
        return when(obj.last_synced_at)

    @admin.display(description="History (who linked or unlinked, and when)")
    def history(self, obj: RecordLink) -> str:
        events = link_history(obj)
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
        require_permission(request, "link_records")
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
        linked_zuora = linked_zuora_account_ids(r.id for r in zuora_results)
        linked_netsuite = linked_netsuite_internal_ids(r.internal_id for r in netsuite_results)
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
        require_permission(request, "link_records")
        link = get_object_or_404(RecordLink.objects.select_related("linked_by"), pk=pk)
        if request.method == "POST":
            record_link_delete(link=link, user=request.user, note=request.POST.get("note", ""))
            self.message_user(request, f"Unlinked {link}. The history keeps who and when.")
            return HttpResponseRedirect(reverse("admin:syncadmin_recordlink_changelist"))
        context = self._context(request, "Unlink these records?", link=link)
        return TemplateResponse(request, "admin/syncadmin/recordlink/unlink_confirm.html", context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        require_permission(request, "link_records")
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
        require_permission(request, "link_records")
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
        require_permission(request, "link_records")
        link_import = get_object_or_404(LinkImport, pk=pk)
        response = HttpResponse(
            link_import_report_csv(link_import), content_type="text/csv; charset=utf-8"
        )
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
        "when",
        "action",
        "user",
        "zuora_account_number",
        "zuora_account_id",
        "netsuite_entity",
        "netsuite_internal_id",
        "short_note",
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
    sortable_by = ("when",)

    @admin.display(description="When", ordering="at")
    def when(self, obj: LinkEvent) -> str:
        return when(obj.at)

    @admin.display(description="NetSuite entity id")
    def netsuite_entity(self, obj: LinkEvent) -> str:
        return clipped(obj.netsuite_entity_id, narrow=True)

    @admin.display(description="Note")
    def short_note(self, obj: LinkEvent) -> str:
        return clipped(obj.note, narrow=True)


@admin.register(LinkImport)
class LinkImportAdmin(ReadOnlyAdmin):
    list_display = ("id", "filename", "uploaded_by", "uploaded", "status", "open_link")
    list_select_related = ("uploaded_by",)
    exclude = ("rows",)

    @admin.display(description="Uploaded at", ordering="created_at")
    def uploaded(self, obj: LinkImport) -> str:
        return when(obj.created_at)

    @admin.display(description="Preview and report")
    def open_link(self, obj: LinkImport) -> str:
        url = reverse("admin:syncadmin_recordlink_import_preview", args=[obj.pk])
        return format_html('<a href="{}">Open</a>', url)
