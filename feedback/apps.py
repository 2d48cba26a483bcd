from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "feedback"

    def ready(self) -> None:
        from feedback.config import feedback_config
        from feedback.marks import source
        from feedback.vectors import provider
        from indexing import providers
        from search import mark_sources
        from search.signals import model_pruned

        providers.register(provider)  # expansions and refined vectors join the index
        mark_sources.register(source)  # the judgement log fits search's cutoffs
        model_pruned.connect(_forget_model, dispatch_uid="feedback.model_pruned")
        feedback_config()  # a typo in the environment fails at start-up (cbir_site/config.py)


def _forget_model(sender: object, *, model_name: str, **_: object) -> None:
    """A pruned model's refined vectors go with it (expansions are people's words: kept;
    their vectors are recomputed per model)."""
    from feedback.models import RefinedVector

    RefinedVector.objects.filter(model_name=model_name).delete()
