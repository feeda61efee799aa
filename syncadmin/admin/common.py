"""What the admin screens share: one-row settings pages, service-written rows, permission checks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.timezone import localtime


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


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by services: viewable, never added, changed or deleted by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def require_permission(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(f"syncadmin.{permission}"):
        raise PermissionDenied


class SuperuserFieldsMixin:
    """Hides `superuser_only_fields` (digests, hashes, watermarks, API call counts: what it
    takes to debug the sync, not to run finance) from everyone but superusers."""

    superuser_only_fields: tuple[str, ...] = ()

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_readonly_fields(request, obj)  # type: ignore[misc]
        if request.user.is_superuser:
            return fields
        return [name for name in fields if name not in self.superuser_only_fields]

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        exclude = list(super().get_exclude(request, obj) or ())  # type: ignore[misc]
        if not request.user.is_superuser:
            exclude.extend(self.superuser_only_fields)
        return exclude


def clipped(text: str, *, narrow: bool = False) -> str:
    """Long text on one line of a list, cut with an ellipsis; the whole text on hover (and on
    the record's page)."""
    if not text:
        return "—"
    return format_html(
        '<span class="cell-clip{}" title="{}">{}</span>', " narrow" if narrow else "", text, text
    )


def when(value: datetime | None) -> str:
    """A time in a list: short, on one line, in the site's time zone."""
    if value is None:
        return "—"
    return format_html('<span class="when">{}</span>', f"{localtime(value):%Y-%m-%d %H:%M}")
