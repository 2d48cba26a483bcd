from django.apps import AppConfig


class GalleriesConfig(AppConfig):
    name = "galleries"

    def ready(self) -> None:
        from galleries.config import galleries_config

        galleries_config()  # a typo in the environment fails at start-up (cbir_site/config.py)
