"""Fixtures shared with tests/models (the catalogue models of the switch tests)."""

from tests.models.conftest import managed_models  # noqa: F401
