from __future__ import annotations

import shlex
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser
from django.db import models

from syncadmin.management.base import DatabaseCommand
from syncadmin.models import SyncPreferences
from syncadmin.services.preferences import (
    preferences_master_switch_warning,
    preferences_update,
)

EDITABLE = [
    f
    for f in SyncPreferences._meta.get_fields()
    if isinstance(f, models.Field) and f.editable and not f.primary_key and f.name != "updated_at"
]
YES = ("1", "true", "yes", "on", "y")
NO = ("0", "false", "no", "off", "n")


def choices_text(field: models.Field) -> str:
    return ", ".join(f"{value} ({label})" for value, label in field.choices)


def _parse(field: models.Field, raw: str) -> Any:
    text = raw.strip()
    if isinstance(field, models.BooleanField):
        if text.lower() in YES:
            return True
        if text.lower() in NO:
            return False
        raise ValidationError({field.name: f"{raw!r} is not yes or no: type yes or no."})
    if field.choices:
        # What the listing shows to type, or the label the admin shows, in any case.
        for value, label in field.choices:
            if text.lower() in (str(value).lower(), str(label).lower()):
                return value
        raise ValidationError({field.name: f"{raw!r} is not one of: {choices_text(field)}."})
    if raw == "" and field.null:
        return None
    try:
        return field.to_python(raw)
    except ValidationError as exc:
        raise ValidationError({field.name: exc.messages}) from None


def typed(field: models.Field, value: Any) -> str:
    """The value as it is typed after NAME= to set it again (quoted for the shell)."""
    if isinstance(field, models.BooleanField):
        return "yes" if value else "no"
    return shlex.quote("" if value is None else str(value))


class Command(DatabaseCommand):
    help = (
        "Print every sync preference (NAME, the value to type, what it means), or set some: "
        "--set NAME=VALUE [NAME=VALUE ...], validated as a whole and saved all or nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--set",
            action="extend",
            nargs="+",
            default=[],
            metavar="NAME=VALUE",
            help="one or more NAME=VALUE pairs; --set may also be repeated",
        )
        parser.add_argument(
            "--yes",
            action="store_true",
            help="switch the master without asking, even when records are linked",
        )

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
        except ValidationError as exc:
            raise CommandError(_not_saved(exc)) from None
        if "master" in values and not options["yes"]:
            self._confirm_master_switch(values["master"])
        try:
            preferences = (
                preferences_update(values=values, on_warning=self._warn)
                if values
                else SyncPreferences.load()
            )
        except ValidationError as exc:
            raise CommandError(_not_saved(exc)) from None
        self._print(preferences)
        if values:
            self.stdout.write(self.style.SUCCESS(f"Saved {', '.join(values)}."))
        else:
            self.stdout.write(
                "\nChange with: manage.py preferences --set NAME=VALUE [NAME=VALUE ...]"
            )

    def _confirm_master_switch(self, master: str) -> None:
        warning = preferences_master_switch_warning(master=master)
        if warning is None:
            return
        if sys.stdin.isatty():
            answer = input(f"{warning}\nSwitch the master to {master}? [y/N] ")
            if answer.strip().lower() in ("y", "yes"):
                return
            raise CommandError("Nothing saved: the master stays as it was.")
        raise CommandError(f"Nothing saved. {warning} To switch, add --yes.")

    def _print(self, preferences: SyncPreferences) -> None:
        width = max(len(f.name) for f in EDITABLE)
        rows = [(f, typed(f, getattr(preferences, f.name))) for f in EDITABLE]
        value_width = min(24, max(len(shown) for _, shown in rows))
        self.stdout.write(f"{'NAME':<{width}}  {'VALUE':<{value_width}}  MEANING")
        for field, shown in rows:
            meaning = str(field.verbose_name)
            if field.choices:
                meaning += f": {dict(field.choices).get(getattr(preferences, field.name))}"
            self.stdout.write(f"{field.name:<{width}}  {shown:<{value_width}}  {meaning}")
            if field.choices:
                indent = " " * (width + value_width + 4)
                self.stdout.write(f"{indent}one of: {choices_text(field)}")

    def _warn(self, message: str) -> None:
        self.stderr.write(self.style.WARNING(message))


def _not_saved(exc: ValidationError) -> str:
    lines = [f"  {k}: {' '.join(v)}" for k, v in exc.message_dict.items()]
    return "Preferences not saved:\n" + "\n".join(lines)
