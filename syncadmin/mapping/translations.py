"""Names that differ between the systems (payment terms, currencies, subsidiaries): the lookup
tables admins keep (NameTranslations, Zuora name -> NetSuite name), applied by the built-in
rules. A name without a row, or whose translation the destination lacks, is matched exactly,
today's rule."""

from __future__ import annotations

from collections.abc import Collection, Mapping


def netsuite_candidates(table: Mapping[str, str], zuora_name: str) -> list[str]:
    """The NetSuite names to try for a Zuora name, in order: its translation, then itself."""
    translated = table.get(zuora_name)
    return [translated, zuora_name] if translated and translated != zuora_name else [zuora_name]


def zuora_candidates(table: Mapping[str, str], netsuite_name: str) -> list[str]:
    """The Zuora names to try for a NetSuite name, in order: the Zuora name whose translation
    it is, then itself."""
    reverse = [z for z, n in table.items() if n == netsuite_name and z != netsuite_name]
    return [*reverse[:1], netsuite_name]


def first_known(candidates: list[str], known: Collection[str] | Mapping[str, str]) -> str | None:
    return next((name for name in candidates if name in known), None)
