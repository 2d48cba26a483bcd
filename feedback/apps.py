from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "feedback"

    def ready(self) -> None:
        from feedback.config import feedback_config
        from feedback.marks import source
        from feedback.vectors import provider
        from indexing import providers
        from search import mark_sources

        providers.register(provider)  # expansions and refined vectors join the index
        mark_sources.register(source)  # the judgement log fits search's cutoffs
        feedback_config()  # a typo in the environment fails at start-up (cbir_site/config.py)
