from django.http import HttpRequest

from search.runtime import encoder_status as _encoder_status


def encoder_status(request: HttpRequest) -> dict[str, object]:
    """Which encoder is active, for the page footer (resolving it loads no weights)."""
    return {"encoder_status": _encoder_status()}
