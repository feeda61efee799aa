"""The preview of a field mapping: what the sync would change on three linked records with it,
and the one-time resync of every linked record ("Resync all N linked records now")."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from syncadmin.mapping.field_catalog import rule_words
from syncadmin.models import FieldMapping, SyncPreferences, SyncRun
from syncadmin.services.mapping_preview import (
    field_mapping_preview,
    linked_records_count,
    mapping_resync_queue,
)
from syncadmin.services.runs import runs_interrupted_close

VIEW_PERMISSIONS = ("syncadmin.view_fieldmapping", "syncadmin.view_syncpreferences")
# A full resync writes to every linked record that differs: an admin's decision.
RESYNC_PERMISSION = "syncadmin.change_syncpreferences"


def mapping_in_words(mapping: FieldMapping) -> str:
    """ "Zuora Region (Region__c) → NetSuite Region (custentity_region). Copied." and the like:
    the two fields with their systems, then the rule as the Field mappings page states it."""
    source_system, destination_system = mapping.get_direction_display().split(" → ")
    source = _field(mapping.source_label, mapping.source_field)
    destination = _field(mapping.destination_label, mapping.destination_field)
    rule = rule_words(
        mapping.transform, mapping.value_map or {}, mapping.default_value, mapping.value_labels
    )
    return f"{source_system} {source} → {destination_system} {destination}. {rule}"


def _field(label: str, name: str) -> str:
    return f"{label} ({name})" if label and label != name else name


def may_view(request: HttpRequest) -> bool:
    return any(request.user.has_perm(p) for p in VIEW_PERMISSIONS)


def may_resync(request: HttpRequest) -> bool:
    return request.user.has_perm(RESYNC_PERMISSION)


def mapping_preview_view(request: HttpRequest, pk: int) -> HttpResponse:
    if not may_view(request):
        raise PermissionDenied
    mapping = get_object_or_404(FieldMapping, pk=pk)
    direction = SyncPreferences.load().direction
    if request.method == "POST":
        return _resync(request, mapping)
    in_use = mapping.direction == direction
    preview = field_mapping_preview() if in_use else None
    context = {
        **admin.site.each_context(request),
        "title": f"Preview of the field mapping {mapping}",
        "opts": FieldMapping._meta,
        "mapping": mapping,
        "in_words": mapping_in_words(mapping),
        "in_use": in_use,
        "preview": preview,
        "can_resync": may_resync(request),
        "running": SyncRun.objects.filter(status=SyncRun.Status.RUNNING).exists(),
        "list_url": _list_url(),
    }
    return TemplateResponse(request, "admin/syncadmin/fieldmapping/preview.html", context)


def _resync(request: HttpRequest, mapping: FieldMapping) -> HttpResponse:
    if not may_resync(request):
        raise PermissionDenied
    runs_interrupted_close()
    running = SyncRun.objects.filter(status=SyncRun.Status.RUNNING).order_by("-pk").first()
    back = reverse("admin:syncadmin_fieldmapping_preview", args=[mapping.pk])
    if running is not None:
        messages.warning(
            request,
            f"Run {running.pk} is running; start the resync when it has finished.",
        )
        return HttpResponseRedirect(back)
    count = linked_records_count(direction=SyncPreferences.load().direction)
    mapping_resync_queue(user=request.user)
    messages.success(
        request,
        f"A one-time resync of all {count:,} linked records is queued. It shows here when the "
        "worker starts it; only the records whose fields differ are written.",
    )
    return HttpResponseRedirect(reverse("admin:syncadmin_syncrun_dashboard"))


def _list_url() -> str:
    return reverse("admin:syncadmin_fieldmapping_changelist")
