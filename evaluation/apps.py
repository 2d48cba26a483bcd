from django.apps import AppConfig


class EvaluationAppConfig(AppConfig):
    """Retrieval evaluation (`cbir_evaluate`): datasets, metrics, experiments, reports."""

    name = "evaluation"
