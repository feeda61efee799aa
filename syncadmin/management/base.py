"""What every management command that reads or writes syncadmin's tables shares."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

MIGRATE = "run `python manage.py migrate` first"


def database_problem(using: str = DEFAULT_DB_ALIAS) -> str | None:
    """Why the database cannot serve a command yet (unreachable, never migrated, or behind
    the code's migrations), in one line saying what to do; None when it is ready."""
    try:
        executor = MigrationExecutor(connections[using])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"Cannot reach the database ({first_line}): check DATABASE_URL."
    if not plan:
        return None
    if not executor.loader.applied_migrations:
        return f"The database is not set up yet: {MIGRATE}."
    return f"The database is not up to date ({len(plan)} migrations to apply): {MIGRATE}."


class DatabaseCommand(BaseCommand):
    """A command on syncadmin's tables: run before `migrate` (or against a database it cannot
    reach), it says so in one line and exits 1 instead of failing with a traceback."""

    def execute(self, *args: Any, **options: Any) -> Any:
        problem = database_problem(options.get("database") or DEFAULT_DB_ALIAS)
        if problem is not None:
            raise CommandError(problem, returncode=1)
        return super().execute(*args, **options)
