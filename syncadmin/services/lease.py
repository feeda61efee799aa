"""A database lease: at most one holder at a time, across processes and machines.

Taken with one conditional UPDATE, which both SQLite and PostgreSQL execute atomically, so two
workers racing for it cannot both win. The holder renews it every heartbeat
(SYNC_LEASE_HEARTBEAT_SECONDS); a holder that dies stops renewing and the lease lapses after
SYNC_LEASE_TTL_SECONDS. A lapsed lease cannot be renewed, only taken again: a holder that
missed its renewals for a whole TTL may already have been declared dead.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from syncadmin.models import SyncLease

SYNC_LEASE = "customer-sync"


def lease_ttl() -> timedelta:
    return timedelta(seconds=settings.SYNC_LEASE_TTL_SECONDS)


def heartbeat_seconds() -> float:
    return float(settings.SYNC_LEASE_HEARTBEAT_SECONDS)


def new_holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_acquire(*, name: str = SYNC_LEASE, holder: str, ttl: timedelta | None = None) -> bool:
    try:
        with transaction.atomic():
            SyncLease.objects.get_or_create(name=name)
    except IntegrityError:
        pass  # created by a racing process at the same moment
    now = timezone.now()
    taken = SyncLease.objects.filter(
        Q(name=name) & (Q(expires_at__isnull=True) | Q(expires_at__lt=now) | Q(holder=holder))
    ).update(holder=holder, expires_at=now + (lease_ttl() if ttl is None else ttl))
    return taken == 1


def lease_renew(*, name: str = SYNC_LEASE, holder: str, ttl: timedelta | None = None) -> bool:
    """Extend the lease; False when this holder no longer holds it, or its lease lapsed."""
    now = timezone.now()
    renewed = SyncLease.objects.filter(name=name, holder=holder, expires_at__gte=now).update(
        expires_at=now + (lease_ttl() if ttl is None else ttl)
    )
    return renewed == 1


def lease_release(*, name: str = SYNC_LEASE, holder: str) -> None:
    SyncLease.objects.filter(name=name, holder=holder).update(holder="", expires_at=None)


def lease_state(*, name: str = SYNC_LEASE) -> tuple[str, datetime | None] | None:
    """(holder, expires_at) as stored, or None before the first run."""
    return SyncLease.objects.filter(name=name).values_list("holder", "expires_at").first()


def lease_live_holder(*, name: str = SYNC_LEASE) -> str | None:
    """Who holds the lease now, if anyone: a lapsed lease has no holder."""
    state = lease_state(name=name)
    if state is None:
        return None
    holder, expires_at = state
    if not holder or expires_at is None or expires_at < timezone.now():
        return None
    return holder
