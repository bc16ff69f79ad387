"""The form a signed-in user fills to issue a key for themselves."""

from __future__ import annotations

from typing import Any

from django import forms

from chungus.accounts.models import ApiKey
from chungus.accounts.quota import Quota, new_key_problems
from chungus.fleet.models import Model
from chungus.lib import names


def model_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in Model.objects.values_list("name", flat=True)]


class OwnKeyForm(forms.Form):
    """Name, limits within the user's quota, and optionally the models the key may use."""

    name = names.form_field("key")
    rpm = forms.IntegerField(
        label="Requests per minute", required=False, min_value=1, help_text="blank: your maximum"
    )
    tpm = forms.IntegerField(
        label="Tokens per minute", required=False, min_value=1, help_text="blank: your maximum"
    )
    allowed_models = forms.MultipleChoiceField(
        label="Models",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=model_choices,
        help_text="none ticked: every model",
    )

    def __init__(self, *args: Any, quota: Quota, active_keys: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.quota = quota
        self.active_keys = active_keys
        self.fields["rpm"].widget.attrs["max"] = quota.max_rpm
        self.fields["tpm"].widget.attrs["max"] = quota.max_tpm

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"]
        if ApiKey.objects.filter(name=name).exists():
            # Names are unique across all users; say no more than that it is taken.
            raise forms.ValidationError("That name is taken; choose another.")
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for problem in new_key_problems(
            self.quota, self.active_keys, data.get("rpm"), data.get("tpm")
        ):
            self.add_error(None, problem)
        return data
