"""Admin forms. Secrets are write-only: the widget never renders a stored value, and an empty
field keeps what is stored."""

from __future__ import annotations

from typing import Any

from django import forms

from syncadmin.models import NetSuiteConnection, SyncPreferences, ZuoraConnection


class SecretInput(forms.PasswordInput):
    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(
            attrs={"autocomplete": "new-password", **(attrs or {})}, render_value=False
        )


class SecretsForm(forms.ModelForm):
    """Adds one write-only field per secret of the model, with a "set / not set" hint."""

    secret_fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in self.secret_fields:
            is_set = bool(self.instance.pk) and self.instance.secret_is_set(name)
            clear_name = f"clear_{name}"
            self.fields[name] = forms.CharField(
                required=False,
                widget=SecretInput(),
                label=name.replace("_", " ").capitalize(),
                help_text=(
                    "Set. Leave empty to keep it; type a new value to replace it."
                    if is_set
                    else "Not set."
                ),
            )
            if name == "private_key":
                self.fields[name].widget = forms.Textarea(
                    attrs={
                        "rows": 3,
                        "autocomplete": "off",
                        "placeholder": "-----BEGIN PRIVATE KEY-----",
                    }
                )
            if is_set:
                self.fields[clear_name] = forms.BooleanField(
                    required=False, label=f"Remove the stored {name.replace('_', ' ')}"
                )

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

    class Meta:
        model = ZuoraConnection
        fields = ["base_url", "client_id", "entity_id"]


class NetSuiteConnectionForm(SecretsForm):
    secret_fields = NetSuiteConnection.SECRET_FIELDS

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
        master = cleaned.get("master")
        if (
            self.instance.pk
            and master
            and master != SyncPreferences.objects.get(pk=self.instance.pk).master
            and not cleaned.get("confirm_master_switch")
        ):
            from syncadmin.models import RecordLink

            links = RecordLink.objects.count()
            if links:
                self.add_error(
                    "master",
                    f"{links} records are linked. Switching the master keeps every link and "
                    "starts the new direction from a fresh watermark; tick the confirmation "
                    "below to switch.",
                )
        return cleaned
