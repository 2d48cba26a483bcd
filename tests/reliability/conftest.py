"""Each reliability test gets its own private stack (tests/reliability/stack.py).

When a test fails, the tail of every process's log is printed with the report.
"""

from __future__ import annotations

import pytest

from tests.reliability.stack import running_stack

# The workers' fake model takes this long per image batch, so that a kill lands
# while a batch is being worked on (tests/reliability/celery_main.py).
MODEL_SECONDS = 0.3


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    if config.getoption("--reliability-long"):
        for item in items:
            if item.get_closest_marker("reliability"):
                item.add_marker(pytest.mark.timeout(1200))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    stack = getattr(item, "reliability_stack", None)
    if stack is not None and report.failed:
        report.sections.append(("process logs (tails)", stack.log_tails()))


@pytest.fixture
def stack(request):  # type: ignore[no-untyped-def]
    with running_stack(workers=2, model_seconds=MODEL_SECONDS) as running:
        request.node.reliability_stack = running
        yield running


@pytest.fixture
def account(stack):  # type: ignore[no-untyped-def]
    return stack.account()


@pytest.fixture
def long_run(request) -> bool:  # type: ignore[no-untyped-def]
    return bool(request.config.getoption("--reliability-long"))
