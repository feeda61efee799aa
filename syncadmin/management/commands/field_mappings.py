"""manage.py field_mappings: the *Field mappings* page from the command line."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import CommandError, CommandParser

from syncadmin.management.base import DatabaseCommand
from syncadmin.mapping.added import Transform
from syncadmin.mapping.builtin import BY_DIRECTION
from syncadmin.mapping.field_catalog import length_warning, parse_value_map, rule_words
from syncadmin.models import Direction, FieldMapping, NameTranslation, SyncPreferences
from syncadmin.services.field_mappings import (
    UNCHECKED,
    SystemUnreachable,
    field_catalogs_fetch,
    field_mapping_add,
    field_mapping_remove,
    name_translation_remove,
    name_translation_set,
)

WHAT = {
    "source_field": "Source field",
    "destination_field": "Destination field",
    "transform": "Transform",
    "value_map": "Value map",
    "default_value": "Default",
    "zuora_name": "Zuora name",
    "netsuite_name": "NetSuite name",
    NON_FIELD_ERRORS: "",
}
EXAMPLES = """examples:
  manage.py field_mappings list
  manage.py field_mappings add --source Region__c --destination custentity_region
  manage.py field_mappings add --source Tier__c --destination category \\
      --transform value_map --map "Gold=Gold Partner" --map "Silver=4"
  manage.py field_mappings remove custentity_region
  manage.py field_mappings translate --kind payment_term --zuora "Net 45" --netsuite "Net 60"
  manage.py field_mappings untranslate --kind payment_term --zuora "Net 45"
"""


def refused(what: str, exc: ValidationError) -> CommandError:
    lines = []
    for key, messages in exc.message_dict.items():
        label = WHAT.get(key, key)
        lines.append(f"  {label + ': ' if label else ''}{' '.join(messages)}")
    return CommandError(f"{what}:\n" + "\n".join(lines), returncode=1)


class Command(DatabaseCommand):
    help = (
        "List the field mappings of the current direction (built-in and added) and the name "
        "lookup tables; add or remove an added mapping; set or remove a lookup-table line. "
        "Every addition is checked against the live Zuora and NetSuite first."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.epilog = EXAMPLES
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        from argparse import RawDescriptionHelpFormatter

        parser.formatter_class = RawDescriptionHelpFormatter
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = actions.add_parser("list", help="built-in and added rows, and lookup tables")
        self._direction(listing)
        add = actions.add_parser("add", help="add a mapping (checked against both systems)")
        self._direction(add)
        add.add_argument("--source", required=True, help="source field, e.g. Region__c")
        add.add_argument("--destination", required=True, help="e.g. custentity_region")
        add.add_argument(
            "--transform",
            choices=[t.value for t in Transform],
            help="copy (default), value_map (with --map) or default (with --default)",
        )
        add.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="SOURCE=DESTINATION",
            help="one value-map line; repeat for more",
        )
        add.add_argument("--default", default="", help="the value written when the source is empty")
        remove = actions.add_parser("remove", help="remove an added mapping")
        self._direction(remove)
        remove.add_argument("mapping", help="the mapping's number (see list) or destination field")
        for name, helptext in (
            ("translate", "say which NetSuite name a Zuora name stands for"),
            ("untranslate", "remove a lookup-table line"),
        ):
            sub = actions.add_parser(name, help=helptext)
            sub.add_argument("--kind", required=True, choices=NameTranslation.Kind.values)
            sub.add_argument("--zuora", required=True, help="the name as Zuora has it")
            if name == "translate":
                sub.add_argument("--netsuite", required=True, help="the name as NetSuite has it")

    @staticmethod
    def _direction(parser: CommandParser) -> None:
        parser.add_argument(
            "--direction",
            choices=Direction.values,
            help="default: the direction of the current master (sync preferences)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        direction = options.get("direction") or SyncPreferences.load().direction
        getattr(self, f"_{options['action']}")(direction, options)

    # -- actions --------------------------------------------------------------------------------
    def _list(self, direction: str, options: dict[str, Any]) -> None:
        out = self.stdout.write
        out(f"{Direction(direction).label}")
        out("\nBuilt in (always synced, cannot be removed):")
        for row in BY_DIRECTION[direction]:
            out(f"  {row.source} → {row.destination}")
            out(f"      {row.rule}")
        added = FieldMapping.objects.filter(direction=direction)
        out("\nAdded:")
        if not added:
            out("  none: add one with `manage.py field_mappings add --source F --destination F`")
        for mapping in added:
            out(f"  #{mapping.pk}  {_side(mapping, 'source')} → {_side(mapping, 'destination')}")
            out(f"      {_rule(mapping)}")
        out("\nName lookup tables (Zuora name = NetSuite name):")
        translations = NameTranslation.objects.all()
        if not translations:
            out("  none: names are matched exactly")
        for translation in translations:
            out(f"  {translation}")

    def _add(self, direction: str, options: dict[str, Any]) -> None:
        try:
            value_map = parse_value_map(options["map"])
        except ValueError as exc:
            raise CommandError(f"Mapping not saved:\n  Value map: {exc}", returncode=1) from None
        transform = options["transform"] or (
            Transform.VALUE_MAP
            if value_map
            else Transform.DEFAULT
            if options["default"]
            else Transform.COPY
        )
        try:
            catalogs = field_catalogs_fetch()
        except SystemUnreachable as exc:
            raise CommandError(f"Mapping not saved:\n  {UNCHECKED} {exc}", returncode=1) from None
        try:
            mapping = field_mapping_add(
                catalogs=catalogs,
                direction=direction,
                source_field=options["source"],
                destination_field=options["destination"],
                transform=transform,
                value_map=value_map,
                default_value=options["default"],
            )
        except ValidationError as exc:
            raise refused("Mapping not saved", exc) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Added #{mapping.pk}: {_side(mapping, 'source')} → "
                f"{_side(mapping, 'destination')} ({_rule(mapping)}). "
                "The next run writes it on every record it updates."
            )
        )
        warning = length_warning(
            catalogs.source(direction)[mapping.source_field],
            catalogs.destination(direction)[mapping.destination_field],
        )
        if warning:
            self.stderr.write(self.style.WARNING(warning))

    def _remove(self, direction: str, options: dict[str, Any]) -> None:
        key = options["mapping"].strip().lstrip("#")
        found = (
            FieldMapping.objects.filter(pk=int(key))
            if key.isdigit()
            else FieldMapping.objects.filter(direction=direction, destination_field=key)
        ).first()
        if found is None:
            builtin = any(key in row.destination for row in BY_DIRECTION[direction])
            raise CommandError(
                f"“{key}” is a built-in row: built-in rows cannot be removed."
                if builtin
                else f"No added mapping “{key}” in {Direction(direction).label}: "
                "see `manage.py field_mappings list`.",
                returncode=1,
            )
        removed = field_mapping_remove(mapping_id=found.pk)
        self.stdout.write(self.style.SUCCESS(f"Removed #{found.pk}: {removed}."))

    def _translate(self, direction: str, options: dict[str, Any]) -> None:
        try:
            translation = name_translation_set(
                kind=options["kind"], zuora_name=options["zuora"], netsuite_name=options["netsuite"]
            )
        except ValidationError as exc:
            raise refused("Lookup table not changed", exc) from None
        self.stdout.write(self.style.SUCCESS(f"Saved: {translation}."))

    def _untranslate(self, direction: str, options: dict[str, Any]) -> None:
        found = NameTranslation.objects.filter(
            kind=options["kind"], zuora_name__iexact=options["zuora"].strip()
        ).first()
        if found is None:
            raise CommandError(
                f"The lookup table has no line for “{options['zuora']}”: see "
                "`manage.py field_mappings list`.",
                returncode=1,
            )
        removed = name_translation_remove(translation_id=found.pk)
        self.stdout.write(self.style.SUCCESS(f"Removed: {removed}."))


def _side(mapping: FieldMapping, side: str) -> str:
    label = getattr(mapping, f"{side}_label")
    name = getattr(mapping, f"{side}_field")
    return f"{label} ({name})" if label and label != name else name


def _rule(mapping: FieldMapping) -> str:
    return rule_words(
        mapping.transform,
        mapping.value_map or {},
        mapping.default_value,
        mapping.value_labels,
    )
