from django.apps import AppConfig


class ExplainConfig(AppConfig):
    name = "explain"
    verbose_name = "explanations"

    def ready(self) -> None:
        from explain.config import explain_config

        explain_config()  # a typo in the environment fails at start-up (cbir_site/config.py)

        from search.signals import model_pruned

        model_pruned.connect(_forget_model, dispatch_uid="explain.model_pruned")


def _forget_model(sender: object, *, model_name: str, **_: object) -> None:
    """A pruned model's cached explanations go with it."""
    from explain.models import Explanation

    Explanation.objects.filter(model_name=model_name).delete()
