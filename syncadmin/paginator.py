"""A paginator for tables of millions of rows: it never counts the whole table."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property


class CappedCountPaginator(Paginator):
    """Counts at most `cap` + 1 rows (SELECT COUNT(*) FROM (... LIMIT cap + 1)), so a page
    costs the same with a thousand or a million results; past the cap the list says "more
    than" and filters or search narrow it down."""

    cap = 10_000

    @cached_property
    def count(self) -> int:
        object_list = self.object_list
        if hasattr(object_list, "query"):
            return object_list[: self.cap + 1].count()
        return len(object_list)

    @property
    def capped(self) -> bool:
        return self.count > self.cap
