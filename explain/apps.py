from django.apps import AppConfig


class ExplainConfig(AppConfig):
    name = "explain"
    verbose_name = "explanations"

    def ready(self) -> None:
        from explain.config import explain_config

        explain_config()  # a typo in the environment fails at start-up (cbir_site/config.py)
