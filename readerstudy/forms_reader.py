"""Forms of the reader path (sign-up, consent, demographics). The answer form is validated by the service."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm

from readerstudy.models import AgeBand, DermoscopyUse, Profession, ReaderProfile


class SignupForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        fields = ("username",)


class ConsentForm(forms.Form):
    agree = forms.BooleanField(
        required=True,
        label="I have read the information above and agree to take part.",
        error_messages={"required": "Tick the box to give your consent, or close this page to decline."},
    )


class DemographicsForm(forms.ModelForm):
    profession = forms.ChoiceField(choices=Profession.choices, widget=forms.RadioSelect, label="Your profession")
    years_experience = forms.IntegerField(
        min_value=0, max_value=70, label="Years of clinical experience",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    dermoscopy_use = forms.ChoiceField(
        choices=DermoscopyUse.choices, widget=forms.RadioSelect, label="How often do you use dermoscopy?"
    )
    country = forms.CharField(max_length=60, label="Country where you practise",
                              widget=forms.TextInput(attrs={"autocomplete": "country-name"}))
    age_band = forms.ChoiceField(choices=AgeBand.choices, widget=forms.RadioSelect, label="Your age")

    class Meta:
        model = ReaderProfile
        fields = ("profession", "years_experience", "dermoscopy_use", "country", "age_band")
