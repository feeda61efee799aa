"""Field mappings finance admins add, and lookup tables for names that differ."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from syncadmin.mapping.added import AddedMapping, FieldType, Transform
from syncadmin.models.base import Direction


class FieldMapping(models.Model):
    """One added mapping row: a source field copied to a destination field in one direction.

    Built-in rows live in code (syncadmin/mapping/); these are the ones admins add, checked
    against the live systems before they are saved (services/field_mappings.py).
    """

    direction = models.CharField(max_length=20, choices=Direction.choices)
    source_field = models.CharField(max_length=200)
    source_label = models.CharField(max_length=200, blank=True)
    source_type = models.CharField(
        max_length=20, choices=[(t.value, t.value) for t in FieldType], default=FieldType.TEXT
    )
    destination_field = models.CharField(max_length=200)
    destination_label = models.CharField(max_length=200, blank=True)
    destination_type = models.CharField(
        max_length=20, choices=[(t.value, t.value) for t in FieldType], default=FieldType.TEXT
    )
    max_length = models.PositiveIntegerField(null=True, blank=True)
    transform = models.CharField(
        max_length=20,
        choices=[
            (Transform.COPY.value, "Copy the value"),
            (Transform.VALUE_MAP.value, "Translate through a value map"),
            (Transform.DEFAULT.value, "Copy, or a default when empty"),
        ],
        default=Transform.COPY,
    )
    value_map = models.JSONField(default=dict, blank=True)
    default_value = models.CharField(max_length=300, blank=True)
    # The names of the NetSuite list entries the value map and default store by internal id,
    # as NetSuite named them when the mapping was saved: {"source": {id: name},
    # "destination": {id: name}}. For display only; the sync uses the ids.
    value_labels = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["direction", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["direction", "destination_field"], name="one_added_mapping_per_destination"
            )
        ]

    def __str__(self) -> str:
        source = self.source_label or self.source_field
        destination = self.destination_label or self.destination_field
        return f"{source} → {destination}"

    def as_added_mapping(self) -> AddedMapping:
        return AddedMapping(
            direction=self.direction,
            source_field=self.source_field,
            destination_field=self.destination_field,
            transform=Transform(self.transform),
            value_map=dict(self.value_map or {}),
            default=self.default_value,
            source_type=FieldType(self.source_type),
            destination_type=FieldType(self.destination_type),
            max_length=self.max_length,
            label=str(self),
        )


class NameTranslation(models.Model):
    """A Zuora name and the NetSuite name it stands for (payment term, currency, subsidiary)."""

    class Kind(models.TextChoices):
        PAYMENT_TERM = "payment_term", "Payment term"
        CURRENCY = "currency", "Currency"
        SUBSIDIARY = "subsidiary", "Subsidiary"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    zuora_name = models.CharField(max_length=200)
    netsuite_name = models.CharField(max_length=200)

    class Meta:
        ordering = ["kind", "zuora_name"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "zuora_name"], name="one_translation_per_name"),
            models.UniqueConstraint(
                fields=["kind", "netsuite_name"], name="one_translation_per_netsuite_name"
            ),
        ]

    def __str__(self) -> str:
        kind = self.get_kind_display()
        return f"{kind}: Zuora “{self.zuora_name}” = NetSuite “{self.netsuite_name}”"
