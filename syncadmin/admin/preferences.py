"""The sync preferences page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest

from syncadmin.admin.common import SingletonAdmin
from syncadmin.forms import SyncPreferencesForm
from syncadmin.models import SyncPreferences
from syncadmin.services.preferences import preferences_update


@admin.register(SyncPreferences)
class SyncPreferencesAdmin(SingletonAdmin):
    form = SyncPreferencesForm
    fieldsets = [
        (
            "Direction and behaviour",
            {
                "fields": [
                    "master",
                    "confirm_master_switch",
                    "sync_behavior",
                    "hierarchies_enabled",
                    "cutover_date",
                ]
            },
        ),
        ("Customer numbers", {"fields": ["number_mapping", "number_update"]}),
        (
            "NetSuite",
            {
                "fields": [
                    "netsuite_one_world",
                    "default_subsidiary",
                    "netsuite_multi_currency",
                    "default_department_id",
                    "default_class_id",
                    "default_location_id",
                    "netsuite_concurrency",
                ]
            },
        ),
        (
            "Zuora (when NetSuite is master)",
            {
                "fields": [
                    "zuora_default_currency",
                    "default_bill_cycle_day",
                    "default_batch",
                    "default_payment_term",
                ]
            },
        ),
        (
            "Schedule and alerts",
            {"fields": ["schedule_enabled", "schedule_every", "schedule_unit", "alert_emails"]},
        ),
    ]

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        # The page shows the confirmation to switch the master only once it is changed.
        context["saved_master"] = SyncPreferences.load().master
        return super().render_change_form(request, context, *args, **kwargs)

    def save_model(
        self, request: HttpRequest, obj: SyncPreferences, form: Any, change: bool
    ) -> None:
        values = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name in {f.name for f in SyncPreferences._meta.fields}
        }
        # The form has asked the live systems already (its errors sit next to the fields).
        preferences_update(values=values, check_live=False)
        for warning in form.live_warnings:
            self.message_user(request, warning, messages.WARNING)
