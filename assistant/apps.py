from django.apps import AppConfig


class AssistantConfig(AppConfig):
    name = "assistant"
    verbose_name = "Query assistant"

    def ready(self) -> None:
        from assistant.config import assistant_config

        assistant_config()  # a typo in the environment fails at start-up (cbir_site/config.py)
