"""django-q2 tasks: thin wrappers around the services."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from syncadmin.services.runs import sync_run_execute


def sync_customers_task(
    trigger: str = "schedule", user_id: int | None = None, account_ids: list[str] | None = None
) -> dict[str, Any]:
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    report = sync_run_execute(trigger=trigger, user=user, account_ids=account_ids)
    return {"run": report.run.pk if report.run else None, "status": report.status, **report.counts}
