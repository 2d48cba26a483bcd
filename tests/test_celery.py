"""Celery routing: every task lands on a queue that every way of running the product consumes."""

from __future__ import annotations

import re

import pytest
from django.conf import settings

from cbir_site.celery import app
from cbir_site.management.commands.cbir_serve import Command as ServeCommand
from tests.test_docker_config import COMPOSE_FILES, WORKERS, command_of, compose, env_example

# The tasks that run the encoder: the only ones a GPU worker needs to see.
EMBEDDING_TASKS = {
    "indexing.tasks.embed_images",
    "feedback.tasks.update_expansions",
    "search.tasks.model_catch_up",  # a candidate model's re-embedding, batch by batch
}
# Tasks with a queue of their own (the setting naming it): on-demand explanations (explain/).
OWN_QUEUE_TASKS = {
    "explain.tasks.explain_compute": "CBIR_EXPLAIN_QUEUE",
    "assistant.tasks.assist_compute": "CBIR_ASSIST_QUEUE",  # the query assistant (assistant/)
}


@pytest.fixture(scope="module")
def routes() -> dict[str, str]:
    app.loader.import_default_modules()  # what a worker does at start: registers every task
    names = set(app.tasks)
    assert names >= EMBEDDING_TASKS and "indexing.tasks.sweep_pending_images" in names
    return {name: app.amqp.router.route({}, name)["queue"].name for name in names}


def _queues_option(command: list[str]) -> set[str]:
    [value] = [arg.split("=", 1)[1] for arg in command if arg.startswith("--queues=")]
    return set(value.split(","))


def _interpolate(text: str) -> str:
    """${NAME:-default} as Compose fills it in from a docker/.env copied from .env.example."""
    active, _ = env_example()
    return re.sub(
        r"\$\{([A-Z0-9_]+):-([^}]*)\}", lambda m: active.get(m.group(1)) or m.group(2), text
    )


def _compose_worker_queues() -> dict[str, set[str]]:
    consumed: dict[str, set[str]] = {}
    for path in COMPOSE_FILES:
        for name, service in compose(path)["services"].items():
            command = command_of(service)
            if command[:4] == ["celery", "-A", "cbir_site", "worker"]:
                consumed[name] = _queues_option([_interpolate(arg) for arg in command])
    return consumed


def test_embedding_tasks_go_to_the_embedding_queue_and_the_rest_to_maintenance(routes):
    for name, queue in routes.items():
        expected = (
            settings.CBIR_EMBED_QUEUE
            if name in EMBEDDING_TASKS
            else getattr(settings, OWN_QUEUE_TASKS[name])
            if name in OWN_QUEUE_TASKS
            else settings.CBIR_MAINTENANCE_QUEUE
        )
        assert queue == expected, name
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert routes[entry["task"]] == settings.CBIR_MAINTENANCE_QUEUE, entry["task"]


def test_the_development_server_worker_consumes_every_queue(routes):
    worker = ServeCommand()._worker_cmd(1)
    assert set(routes.values()) <= _queues_option(worker)


def test_the_compose_workers_together_consume_every_queue(routes):
    consumed = _compose_worker_queues()
    assert set(consumed) == set(WORKERS)
    assert set(routes.values()) <= set().union(*consumed.values())
    # The model's worker (the one compose.gpu.yaml gives the GPUs) takes the embedding tasks.
    assert consumed["worker"] == {
        settings.CBIR_EMBED_QUEUE,
        settings.CBIR_EXPLAIN_QUEUE,
        settings.CBIR_ASSIST_QUEUE,
    }


def test_a_worker_started_without_queues_consumes_every_queue(routes):
    assert set(routes.values()) <= set(app.amqp.queues)


def test_a_task_is_delivered_to_its_own_queue_only(broker, routes):
    """Through the real broker, with both queues declared as a worker consuming both has them."""
    from indexing.tasks import embed_images, sweep_pending_images

    with app.connection_for_write() as connection:  # as a worker consuming both does at start
        for queue in app.amqp.queues.values():
            queue.bind(connection).declare()
    embed_images.apply_async(([1, 2],))
    sweep_pending_images.apply_async()
    assert broker.llen(settings.CBIR_EMBED_QUEUE) == 1
    assert broker.llen(settings.CBIR_MAINTENANCE_QUEUE) == 1
    broker.flushdb()
