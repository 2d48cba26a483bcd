"""Schema-driven fuzzing of the REST API: whatever the input, no 5xx.

Schemathesis generates requests from the OpenAPI schema (valid and invalid
bodies, odd parameters) and sends them through the WSGI application with a
signed-in editor's token. Every response must be a deliberate answer (2xx,
3xx or 4xx with a message), never a server error.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token

from cbir_site.wsgi import application
from indexing.embedding import images_embed
from tests.factories import png_bytes, upload

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.fuzz]
EXAMPLES = 15


def test_no_input_makes_the_api_fail_with_a_server_error(cast):
    image = upload(cast.gallery, png_bytes((200, 10, 10)), name="red.png")
    images_embed(image_ids=[image.pk])
    key = Token.generate_key()
    headers = {"Authorization": f"Token {key}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    failures, operations, statuses = [], 0, []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def exercise(case):  # type: ignore[no-untyped-def]
            # The revoke endpoint is among the operations: give the token back every time.
            Token.objects.get_or_create(user=cast.editor, defaults={"key": key})
            response = case.call(headers=headers)
            statuses.append(response.status_code)
            if response.status_code >= 500:
                failures.append(
                    (
                        case.method,
                        case.formatted_path,
                        case.body,
                        response.status_code,
                        response.text[:300],
                    )
                )

        exercise()
    assert operations >= 20  # the whole API was exercised
    # Signed in throughout (not turned away at the door), and some requests were accepted.
    assert 401 not in statuses and sum(200 <= s < 300 for s in statuses) > len(statuses) // 20
    assert failures == [], failures[:5]
