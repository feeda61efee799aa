"""The three roles, as Django groups with model permissions (enforced by the admin on every
view and action, not only hidden from the menu)."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

VIEWER = "Viewer"
OPERATOR = "Sync operator"
ADMIN = "Sync admin"

_VIEW = [
    "view_syncrun",
    "view_accountresult",
    "view_recordlink",
    "view_syncpreferences",
    "view_zuoraconnection",
    "view_netsuiteconnection",
    "view_linkevent",
    "view_linkimport",
    "view_matchsuggestion",
    "view_ignoredaccount",
    "view_fieldmapping",
    "view_nametranslation",
    "view_hooksettings",
    "view_hookevent",
]
_OPERATE = ["run_sync", "link_records", "retry_accounts", "ignore_accounts"]
_ADMINISTER = [
    "change_syncpreferences",
    "change_zuoraconnection",
    "change_netsuiteconnection",
    "add_fieldmapping",
    "delete_fieldmapping",
    "add_nametranslation",
    "delete_nametranslation",
    "change_hooksettings",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    VIEWER: _VIEW,
    OPERATOR: _VIEW + _OPERATE,
    ADMIN: _VIEW + _OPERATE + _ADMINISTER,
}


def roles_setup() -> dict[str, Group]:
    """Create or reset the groups; idempotent."""
    groups: dict[str, Group] = {}
    for name, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = Permission.objects.filter(
            content_type__app_label="syncadmin", codename__in=codenames
        )
        missing = set(codenames) - {p.codename for p in permissions}
        if missing:
            raise RuntimeError(f"permissions missing (run migrate first): {sorted(missing)}")
        group.permissions.set(permissions)
        groups[name] = group
    return groups
