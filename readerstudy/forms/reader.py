"""Forms of the reader path (sign-up, consent, demographics). The answer form is validated by the service."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _

from readerstudy.models import AgeBand, DermoscopyUse, Profession, ReaderProfile

USERNAME_UNAVAILABLE = _("This username cannot be used. Choose another one, or log in below if you already "
                          "have an account.")
TOO_MANY_SIGNUPS = _("Too many sign-up attempts from this network. Please wait an hour, or ask the study coordinator.")


class SignupForm(UserCreationForm):
    """Sign-up on the invitation page. A taken username gets the same words as any unusable one (never
    "already exists"); refused attempts are counted per client IP (readerstudy.security.signup_blocked)."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)

    def clean_username(self):
        username = self.cleaned_data.get("username")
        if username and self._meta.model.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(USERNAME_UNAVAILABLE, code="unavailable")
        return username

    def refuse_throttled(self) -> None:
        self.is_valid()
        self.add_error(None, TOO_MANY_SIGNUPS)


class ConsentForm(forms.Form):
    agree = forms.BooleanField(
        required=True,
        label=_("I have read the information above and agree to take part."),
        error_messages={"required": _("Tick the box to give your consent, or close this page to decline.")},
    )


class DemographicsForm(forms.ModelForm):
    profession = forms.ChoiceField(choices=Profession.choices, widget=forms.RadioSelect, label=_("Your profession"))
    years_experience = forms.IntegerField(
        min_value=0, max_value=70, label=_("Years of clinical experience"),
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    dermoscopy_use = forms.ChoiceField(
        choices=DermoscopyUse.choices, widget=forms.RadioSelect, label=_("How often do you use dermoscopy?")
    )
    country = forms.CharField(max_length=60, label=_("Country where you practise"),
                              widget=forms.TextInput(attrs={"autocomplete": "country-name"}))
    age_band = forms.ChoiceField(choices=AgeBand.choices, widget=forms.RadioSelect, label=_("Your age"))

    class Meta:
        model = ReaderProfile
        fields = ("profession", "years_experience", "dermoscopy_use", "country", "age_band")
