"""Email the configured admins when a run fails or has failed accounts."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from syncadmin.models import SyncPreferences, SyncRun

logger = logging.getLogger(__name__)


def run_alert_send(*, run: SyncRun) -> bool:
    if run.status not in (SyncRun.Status.FAILED, SyncRun.Status.PARTLY_FAILED):
        return False
    if run.trigger == SyncRun.Trigger.EVENT:
        # Every edit of a failing record, and every retry while a system is down, makes an
        # event run: an email each would bury the alert. The scheduled run looks at failed
        # accounts again and reports them (and an unreachable system) once per run.
        return False
    recipients = SyncPreferences.load().alert_email_list() or [a[1] for a in settings.ADMINS]
    if not recipients:
        return False
    base = getattr(settings, "SITE_URL", "http://127.0.0.1:8000").rstrip("/")
    results = reverse("admin:syncadmin_accountresult_changelist")
    link = f"{base}{results}?run__id__exact={run.pk}&outcome__exact=failed"
    subject = f"[syncadmin] Run {run.pk} {run.get_status_display().lower()}: {run.failed} failed"
    body = (
        f"Run {run.pk} ({run.get_direction_display()}) finished as "
        f"{run.get_status_display()}.\n\n"
        f"Created {run.created}, updated {run.updated}, unchanged {run.unchanged}, "
        f"linked {run.linked}, skipped {run.skipped}, failed {run.failed}.\n"
        + (f"\n{run.message}\n" if run.message else "")
        + f"\nFailed accounts: {link}\n"
    )
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:  # an unreachable mail server must not turn a finished run into a crash
        logger.exception("could not send the alert for run %s", run.pk)
        return False
    return True
