from typing import Any

from syncadmin.management.base import DatabaseCommand
from syncadmin.services.roles import ROLE_PERMISSIONS, roles_setup


class Command(DatabaseCommand):
    help = "Create the groups Sync admin, Sync operator and Viewer with their permissions."

    def handle(self, *args: Any, **options: Any) -> None:
        roles_setup()
        if options["verbosity"] < 1:
            return
        for name, codenames in ROLE_PERMISSIONS.items():
            self.stdout.write(f"{name}: {', '.join(codenames)}")
