"""Django's TextChoices, typed for mypy (the project type-checks without django-stubs).

Django ships no type information, so to mypy a `models.TextChoices` subclass is a class
of unknown base whose members are the tuples written in its body. Models subclass this
name instead: at run time it is Django's own class; to mypy a str enum whose members are
str (as they are) with their label, and the class lists Django adds.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:

    class TextChoices(enum.StrEnum):
        label: str
        choices: ClassVar[list[tuple[str, str]]]
        values: ClassVar[list[str]]
        labels: ClassVar[list[str]]

        @property
        def value(self) -> str: ...

else:
    from django.db.models import TextChoices

__all__ = ["TextChoices"]
