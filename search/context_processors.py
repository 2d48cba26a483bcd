from django.http import HttpRequest

from indexing.runtime import encoder_status as _encoder_status


def encoder_status(request: HttpRequest) -> dict[str, object]:
    """Which encoder is active, for the page footer (resolving it loads no weights); for staff,
    a model being pulled or switched to, or why the recommended one could not be pulled."""
    context: dict[str, object] = {"encoder_status": _encoder_status()}
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        from django.db import DatabaseError

        from search.model_bootstrap import staff_model_notice

        try:
            context["model_notice"] = staff_model_notice()
        except DatabaseError:  # an error page rendered while the database is down
            context["model_notice"] = None
    return context
