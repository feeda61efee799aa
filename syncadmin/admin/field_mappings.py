"""The *Field mappings* page: the built-in rows of the current direction, the rows admins
added (with Remove), the Add mapping form, and the name lookup tables. Read-only for viewers."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from syncadmin.admin.common import require_permission
from syncadmin.admin.mapping_preview import mapping_preview_view
from syncadmin.field_mapping_forms import FieldMappingForm, NameTranslationForm
from syncadmin.mapping.builtin import BY_DIRECTION
from syncadmin.mapping.field_catalog import length_warning, rule_words
from syncadmin.models import Direction, FieldMapping, NameTranslation, SyncPreferences
from syncadmin.services.field_mappings import (
    SystemUnreachable,
    field_catalogs_fetch,
    field_catalogs_for_display,
    field_mapping_add,
    field_mapping_remove,
    name_translation_remove,
    name_translation_set,
)

TEMPLATE = "admin/syncadmin/fieldmapping/page.html"


@admin.register(FieldMapping)
class FieldMappingAdmin(admin.ModelAdmin):
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a mapping is removed and added again, never edited in place

    def delete_model(self, request: HttpRequest, obj: FieldMapping) -> None:
        field_mapping_remove(mapping_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for mapping in queryset:
            field_mapping_remove(mapping_id=mapping.pk)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/preview/",
                view(mapping_preview_view),
                name="syncadmin_fieldmapping_preview",
            ),
            path(
                "<int:pk>/remove/",
                view(require_POST(self.remove_view)),
                name="syncadmin_fieldmapping_remove",
            ),
            path(
                "translations/",
                view(require_POST(self.translation_view)),
                name="syncadmin_fieldmapping_translate",
            ),
            path(
                "translations/<int:pk>/remove/",
                view(require_POST(self.translation_remove_view)),
                name="syncadmin_fieldmapping_untranslate",
            ),
            *super().get_urls(),
        ]

    # -- the page --------------------------------------------------------------------------------
    def _direction(self, request: HttpRequest) -> str:
        wanted = request.GET.get("direction", "")
        return wanted if wanted in Direction.values else SyncPreferences.load().direction

    def _page(
        self,
        request: HttpRequest,
        direction: str,
        form: FieldMappingForm | None = None,
        translation_form: NameTranslationForm | None = None,
    ) -> HttpResponse:
        can_add = self.has_add_permission(request)
        catalog_problem = ""
        if can_add and form is None:
            try:
                form = FieldMappingForm(direction=direction, catalogs=field_catalogs_for_display())
            except SystemUnreachable as exc:
                catalog_problem = str(exc)
        added = [
            (
                mapping,
                rule_words(
                    mapping.transform,
                    mapping.value_map or {},
                    mapping.default_value,
                    mapping.value_labels,
                ),
            )
            for mapping in FieldMapping.objects.filter(direction=direction)
        ]
        other = next(d for d in Direction.values if d != direction)
        context = {
            **self.admin_site.each_context(request),
            "title": "Field mappings",
            "opts": self.model._meta,
            "direction": Direction(direction),
            "is_current": direction == SyncPreferences.load().direction,
            "other_direction": Direction(other),
            "builtin_rows": BY_DIRECTION[direction],
            "added_rows": added,
            "translations": NameTranslation.objects.all(),
            "can_add": can_add,
            "can_remove": self.has_delete_permission(request),
            "can_translate": request.user.has_perm("syncadmin.add_nametranslation"),
            "can_untranslate": request.user.has_perm("syncadmin.delete_nametranslation"),
            "form": form,
            "translation_form": translation_form or NameTranslationForm(),
            "catalog_problem": catalog_problem,
        }
        return TemplateResponse(request, TEMPLATE, context)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if not self.has_view_permission(request):
            require_permission(request, "view_fieldmapping")
        return self._page(request, self._direction(request))

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> Any:
        """The Add mapping form posts here; a refusal shows the page again with the reason
        next to the field it concerns."""
        require_permission(request, "add_fieldmapping")
        direction = self._direction(request)
        if request.method != "POST":
            return HttpResponseRedirect(self._list_url(direction))
        try:
            # Asked now, once: the form's choices and the service's checks use the same answer.
            catalogs = field_catalogs_fetch()
        except SystemUnreachable as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(self._list_url(direction))
        form = FieldMappingForm(request.POST, direction=direction, catalogs=catalogs)
        if form.is_valid():
            data = form.cleaned_data
            try:
                mapping = field_mapping_add(
                    direction=direction,
                    source_field=data["source_field"],
                    destination_field=data["destination_field"],
                    transform=data["transform"],
                    value_map=data["value_map"],
                    default_value=data["default_value"],
                    user=request.user,
                    catalogs=catalogs,
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                self.message_user(
                    request,
                    f"Added: {mapping}. Below is what it would change on three linked records; "
                    "the next run writes it on every record it updates.",
                )
                warning = length_warning(
                    catalogs.source(direction)[mapping.source_field],
                    catalogs.destination(direction)[mapping.destination_field],
                )
                if warning:
                    self.message_user(request, warning, messages.WARNING)
                return HttpResponseRedirect(
                    reverse("admin:syncadmin_fieldmapping_preview", args=[mapping.pk])
                )
        return self._page(request, direction, form=form)

    def remove_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        require_permission(request, "delete_fieldmapping")
        mapping = get_object_or_404(FieldMapping, pk=pk)
        removed = field_mapping_remove(mapping_id=mapping.pk)
        self.message_user(request, f"Removed: {removed}. The next run no longer writes it.")
        return HttpResponseRedirect(self._list_url(removed.direction))

    def translation_view(self, request: HttpRequest) -> HttpResponse:
        require_permission(request, "add_nametranslation")
        direction = self._direction(request)
        form = NameTranslationForm(request.POST)
        if form.is_valid():
            try:
                translation = name_translation_set(**form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                self.message_user(request, f"Saved: {translation}.")
                return HttpResponseRedirect(self._list_url(direction) + "#lookup-tables")
        return self._page(request, direction, translation_form=form)

    def translation_remove_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        require_permission(request, "delete_nametranslation")
        translation = get_object_or_404(NameTranslation, pk=pk)
        removed = name_translation_remove(translation_id=translation.pk)
        self.message_user(request, f"Removed: {removed}. Those names are matched exactly again.")
        return HttpResponseRedirect(self._list_url(self._direction(request)) + "#lookup-tables")

    @staticmethod
    def _list_url(direction: str) -> str:
        url = reverse("admin:syncadmin_fieldmapping_changelist")
        if direction != SyncPreferences.load().direction:
            url += f"?direction={direction}"
        return url
