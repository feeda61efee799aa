from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models

from syncadmin.models import SyncPreferences
from syncadmin.services.preferences import preferences_update

EDITABLE = [
    f
    for f in SyncPreferences._meta.get_fields()
    if isinstance(f, models.Field) and f.editable and not f.primary_key and f.name != "updated_at"
]


def _parse(field: models.Field, raw: str) -> Any:
    if isinstance(field, models.BooleanField):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on", "y"):
            return True
        if lowered in ("0", "false", "no", "off", "n"):
            return False
        raise ValidationError({field.name: f"{raw!r} is not yes/no."})
    if raw == "" and field.null:
        return None
    try:
        return field.to_python(raw)
    except ValidationError as exc:
        raise ValidationError({field.name: exc.messages}) from None


class Command(BaseCommand):
    help = "Print every sync preference, or set some: --set NAME=VALUE (validated as a whole)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")

    def handle(self, *args: Any, **options: Any) -> None:
        by_name = {f.name: f for f in EDITABLE}
        values: dict[str, Any] = {}
        try:
            for item in options["set"]:
                name, sep, raw = item.partition("=")
                name = name.strip()
                if not sep:
                    raise CommandError(f"--set {item!r}: expected NAME=VALUE")
                if name not in by_name:
                    raise CommandError(
                        f"Unknown preference {name!r}. Known: {', '.join(sorted(by_name))}"
                    )
                values[name] = _parse(by_name[name], raw)
            preferences = (
                preferences_update(values=values, on_warning=self._warn)
                if values
                else SyncPreferences.load()
            )
        except ValidationError as exc:
            lines = [f"  {k}: {' '.join(v)}" for k, v in exc.message_dict.items()]
            raise CommandError("Preferences not saved:\n" + "\n".join(lines)) from None
        width = max(len(f.name) for f in EDITABLE)
        for field in EDITABLE:
            value = getattr(preferences, field.name)
            shown = dict(field.choices).get(value, value) if field.choices else value
            self.stdout.write(f"{field.name:<{width}}  {shown!s:<32} {field.verbose_name}")
        if values:
            self.stdout.write(self.style.SUCCESS(f"Saved {', '.join(values)}."))

    def _warn(self, message: str) -> None:
        self.stderr.write(self.style.WARNING(message))
