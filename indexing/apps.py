from django.apps import AppConfig


class IndexingConfig(AppConfig):
    """Embeddings, the models that make them, the index feed and the search backends."""

    name = "indexing"

    def ready(self) -> None:
        from galleries.signals import images_removed, images_stored
        from indexing import announce
        from indexing.config import indexing_config

        images_stored.connect(announce.on_images_stored, dispatch_uid="indexing.images_stored")
        images_removed.connect(announce.on_images_removed, dispatch_uid="indexing.images_removed")
        indexing_config()  # a typo in the environment fails at start-up (cbir_site/config.py)
