"""The task queue's own pages (django-q2's schedules, queued, successful and failed tasks):
for superusers only. The finance admin follows runs on the dashboard and in Sync runs; a
schedule is changed through the preferences, which keep it in step."""

from __future__ import annotations

from typing import Any

import django_q.admin  # registers the queue's models first, so they can be replaced here
from django.contrib import admin
from django.http import HttpRequest


def _superusers_only(model_admin: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:
    class SuperusersOnly(model_admin):  # type: ignore[valid-type,misc]
        def has_module_permission(self, request: HttpRequest) -> bool:
            return request.user.is_active and request.user.is_superuser

        def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
            return request.user.is_active and request.user.is_superuser

        def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
            return request.user.is_superuser and super().has_add_permission(request, *args)

        def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
            return request.user.is_superuser and super().has_change_permission(request, obj)

        def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
            return request.user.is_superuser and super().has_delete_permission(request, obj)

    SuperusersOnly.__name__ = model_admin.__name__
    return SuperusersOnly


for _model, _model_admin in list(admin.site._registry.items()):
    if _model._meta.app_label == "django_q":
        admin.site.unregister(_model)
        admin.site.register(_model, _superusers_only(type(_model_admin)))

__all__ = ["django_q"]
