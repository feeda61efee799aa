"""A database lease: at most one holder at a time, across processes and machines.

Taken with one conditional UPDATE, which both SQLite and PostgreSQL execute atomically, so two
workers racing for it cannot both win. A holder that dies stops renewing and the lease expires.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from syncadmin.models import SyncLease

SYNC_LEASE = "customer-sync"
DEFAULT_TTL = timedelta(minutes=5)


def new_holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_acquire(*, name: str = SYNC_LEASE, holder: str, ttl: timedelta = DEFAULT_TTL) -> bool:
    try:
        with transaction.atomic():
            SyncLease.objects.get_or_create(name=name)
    except IntegrityError:
        pass  # created by a racing process at the same moment
    now = timezone.now()
    taken = SyncLease.objects.filter(
        Q(name=name) & (Q(expires_at__isnull=True) | Q(expires_at__lt=now) | Q(holder=holder))
    ).update(holder=holder, expires_at=now + ttl)
    return taken == 1


def lease_renew(*, name: str = SYNC_LEASE, holder: str, ttl: timedelta = DEFAULT_TTL) -> bool:
    return (
        SyncLease.objects.filter(name=name, holder=holder).update(expires_at=timezone.now() + ttl)
        == 1
    )


def lease_release(*, name: str = SYNC_LEASE, holder: str) -> None:
    SyncLease.objects.filter(name=name, holder=holder).update(holder="", expires_at=None)
