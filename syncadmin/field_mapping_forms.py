"""The forms of the *Field mappings* page: choices from the live catalogs, checks in the
service (services/field_mappings.py), errors next to the field they concern."""

from __future__ import annotations

from typing import Any

from django import forms

from syncadmin.mapping.field_catalog import CatalogField, parse_value_map
from syncadmin.models import Direction, FieldMapping, NameTranslation
from syncadmin.services.field_mappings import FieldCatalogs, built_in_destinations

CHOOSE = {"invalid_choice": "Choose a field from the list (the fields the system reports now)."}


def _grouped(catalog: dict[str, CatalogField], *, zuora: bool) -> list[tuple[str, Any]]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for field in sorted(catalog.values(), key=lambda f: f.label.lower()):
        if zuora:
            group = {"billTo": "Bill To contact", "soldTo": "Sold To contact"}.get(
                field.name.partition(".")[0] if "." in field.name else "", "Account"
            )
            group += " (custom)" if field.custom and group == "Account" else ""
        else:
            group = "Customer (custom)" if field.custom else "Customer"
        groups.setdefault(group, []).append((field.name, field.described))
    return [("", "—")] + sorted(groups.items())


class FieldMappingForm(forms.Form):
    source_field = forms.ChoiceField(label="Source field", error_messages=CHOOSE)
    destination_field = forms.ChoiceField(
        label="Destination field",
        error_messages=CHOOSE,
        help_text="Only fields the sync does not write already, and that can be written.",
    )
    transform = forms.ChoiceField(
        choices=FieldMapping._meta.get_field("transform").choices,
        initial="copy",
        widget=forms.RadioSelect,
    )
    value_map = forms.CharField(
        label="Value map",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 48, "placeholder": "Gold = Gold Partner"}),
        help_text="One line each: source value = destination value. For a NetSuite list, "
        "its entry's name or internal id.",
    )
    default_value = forms.CharField(
        label="Default",
        required=False,
        help_text="Written when the source field is empty (with “Copy, or a default when empty”).",
    )

    def __init__(self, *args: Any, direction: str, catalogs: FieldCatalogs, **kwargs: Any):
        super().__init__(*args, **kwargs)
        zuora_source = direction == Direction.ZUORA_TO_NETSUITE
        written = built_in_destinations(direction)
        destinations = {
            name: field
            for name, field in catalogs.destination(direction).items()
            if field.writable and name not in written
        }
        self.fields["source_field"].choices = _grouped(
            catalogs.source(direction), zuora=zuora_source
        )
        self.fields["destination_field"].choices = _grouped(destinations, zuora=not zuora_source)

    def clean_value_map(self) -> dict[str, str]:
        try:
            return parse_value_map(self.cleaned_data["value_map"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class NameTranslationForm(forms.Form):
    kind = forms.ChoiceField(label="Which names", choices=NameTranslation.Kind.choices)
    zuora_name = forms.CharField(label="Zuora name", max_length=200)
    netsuite_name = forms.CharField(
        label="NetSuite name",
        max_length=200,
        help_text="Subsidiaries by their full name, “Parent : Child”; currencies by ISO code.",
    )
