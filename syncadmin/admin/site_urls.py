"""Admin pages that hang off no ModelAdmin's own URLs, registered on the admin site itself.

Django's AdminSite has no hook for extra views short of subclassing it (and replacing the
default site); `site_urls_add` wraps the site's get_urls instead, putting the pages ahead of the
model URLs (whose "<object_id>/" would catch them otherwise). Each page keeps its own module
(one module per screen) and needs no other screen's ModelAdmin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.admin import AdminSite


def site_urls_add(site: AdminSite, urls: Callable[[AdminSite], list[Any]]) -> None:
    """Serve `urls(site)` under the admin, in its namespace ("admin:<name>")."""
    model_urls = site.get_urls

    def get_urls() -> list[Any]:
        return [*urls(site), *model_urls()]

    site.get_urls = get_urls  # type: ignore[method-assign]
