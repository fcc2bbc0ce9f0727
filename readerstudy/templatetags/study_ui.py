"""Study page furniture: the study tabs, and human labels for stored codes."""

from __future__ import annotations

from django import template

from readerstudy.permissions import can_manage
from readerstudy.views.nav import study_tabs as tabs_for

register = template.Library()


@register.inclusion_tag("studies/_nav.html", takes_context=True)
def study_tabs(context, study, tab: str = ""):
    """``{% study_tabs study "progress" %}``: the study's title, status and tabs, ``tab`` current.

    Uses the page's ``manager`` flag when the view set it, else asks the access layer once.
    """
    manager = context.get("manager")
    if manager is None:
        request = context.get("request")
        manager = bool(request and can_manage(request.user, study))
    return {"study": study, "tab": tab, "tabs": tabs_for(study, manager=manager)}
