"""Admin forms. Secrets are write-only: the widget never renders a stored value, and an empty
field keeps what is stored, except when the connection's address changes (then the secrets
must be entered again; see services.connections.connection_address_change)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from syncadmin.models import NetSuiteConnection, SyncPreferences, ZuoraConnection
from syncadmin.services.connections import connection_address_change
from syncadmin.services.preferences import (
    LIVE_FIELDS,
    preferences_master_switch_warning,
    preferences_resolve_live,
)


class SecretInput(forms.PasswordInput):
    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(
            attrs={"autocomplete": "new-password", **(attrs or {})}, render_value=False
        )


def secret_field(label: str, *, multiline: bool = False) -> forms.CharField:
    widget: forms.Widget = SecretInput()
    if multiline:
        widget = forms.Textarea(
            attrs={"rows": 3, "autocomplete": "off", "placeholder": "-----BEGIN PRIVATE KEY-----"}
        )
    return forms.CharField(required=False, label=label, widget=widget, strip=True)


def clear_field(label: str) -> forms.BooleanField:
    return forms.BooleanField(required=False, label=f"Remove the stored {label.lower()}")


class SecretsForm(forms.ModelForm):
    """Write-only secret fields: an empty value keeps what is stored, the help text says
    whether one is set, and a stored value is never put back into the page."""

    secret_fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in self.secret_fields:
            is_set = bool(self.instance.pk) and self.instance.secret_is_set(name)
            self.fields[name].help_text = (
                "Set. Leave empty to keep it; type a new value to replace it. If you change "
                "the address, enter it again."
                if is_set
                else "Not set."
            )

    def _post_clean(self) -> None:
        # The instance carries the new address only from here on.
        super()._post_clean()
        entered = {
            name
            for name in self.secret_fields
            if self.cleaned_data.get(name) or self.cleaned_data.get(f"clear_{name}")
        }
        try:
            connection_address_change(self.instance, entered=entered)
        except ValidationError as exc:
            self._update_errors(exc)

    def save(self, commit: bool = True) -> Any:
        instance = super().save(commit=False)
        for name in self.secret_fields:
            if self.cleaned_data.get(f"clear_{name}"):
                instance.set_secret(name, "")
            elif self.cleaned_data.get(name):
                instance.set_secret(name, self.cleaned_data[name])
        if commit:
            instance.save()
        return instance


class ZuoraConnectionForm(SecretsForm):
    secret_fields = ZuoraConnection.SECRET_FIELDS
    client_secret = secret_field("Client secret")
    clear_client_secret = clear_field("Client secret")

    class Meta:
        model = ZuoraConnection
        fields = ["base_url", "client_id", "entity_id"]


class NetSuiteConnectionForm(SecretsForm):
    secret_fields = NetSuiteConnection.SECRET_FIELDS
    consumer_secret = secret_field("Consumer secret")
    clear_consumer_secret = clear_field("Consumer secret")
    token_secret = secret_field("Token secret")
    clear_token_secret = clear_field("Token secret")
    private_key = secret_field("Private key (PEM)", multiline=True)
    clear_private_key = clear_field("Private key")

    class Meta:
        model = NetSuiteConnection
        fields = [
            "account_id",
            "base_url",
            "auth_method",
            "consumer_key",
            "token_id",
            "client_id",
            "certificate_id",
            "algorithm",
        ]


class SyncPreferencesForm(forms.ModelForm):
    # Values saved without a live check because the system could not be asked (see clean).
    live_warnings: tuple[str, ...] = ()

    confirm_master_switch = forms.BooleanField(
        required=False,
        label="Yes, switch the master",
        help_text="Links are kept; the new direction starts from a fresh watermark.",
    )

    class Meta:
        model = SyncPreferences
        exclude: list[str] = []

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        warning = preferences_master_switch_warning(master=cleaned.get("master") or "")
        if warning and not cleaned.get("confirm_master_switch"):
            self.add_error("master", f"{warning} To switch, tick the confirmation below.")
        changed = {
            name: cleaned[name]
            for name in self.changed_data
            if name in LIVE_FIELDS and name in cleaned and name not in self.errors
        }
        resolution = preferences_resolve_live(values=changed)
        for name, problem in resolution.errors.items():
            self.add_error(name, problem)
        self.live_warnings = tuple(resolution.warnings)
        return cleaned


class LinkSearchForm(forms.Form):
    zuora_q = forms.CharField(
        required=False,
        label="Search Zuora",
        help_text="Account id, account number, name (starts with) or bill-to email.",
    )
    netsuite_q = forms.CharField(
        required=False,
        label="Search NetSuite",
        help_text="Internal id, entityId, name or email.",
    )


class LinkForm(forms.Form):
    zuora_account = forms.CharField(
        label="Zuora account", help_text="Pick one above, or type its id or account number."
    )
    netsuite_customer = forms.CharField(
        label="NetSuite customer", help_text="Pick one above, or type its internal id or entityId."
    )


class LinkImportForm(forms.Form):
    MAX_BYTES = 5 * 1024 * 1024

    file = forms.FileField(
        label="CSV file",
        help_text="Two columns with a header naming them, e.g. zuora_account,netsuite_customer. "
        "Zuora: account number or id. NetSuite: internal id or entityId.",
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > self.MAX_BYTES:
            raise forms.ValidationError("At most 5 MB per file; split it.")
        head = upload.read(2048)
        upload.seek(0)
        # A spreadsheet (xlsx is a zip), a PDF or any binary file, whatever its name says.
        binary = head.startswith((b"PK\x03\x04", b"%PDF", b"\xd0\xcf\x11\xe0")) or b"\x00" in head
        if binary or not upload.name.lower().endswith((".csv", ".txt")):
            raise forms.ValidationError(
                f"“{upload.name}” is not a CSV file. In Excel, choose File › Save As › "
                "CSV UTF-8 (comma delimited), then upload that file."
            )
        return upload
