"""{% assistant_panel %}: the search page's "Ideas" panel, only when the assistant is on."""

from __future__ import annotations

from typing import Any

from django import template

from assistant.providers import assistant_config

register = template.Library()


@register.inclusion_tag("assistant/panel.html", takes_context=True)
def assistant_panel(context: dict[str, Any]) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    enabled = assistant_config().enabled and bool(user and user.is_authenticated)
    return {"enabled": enabled}
