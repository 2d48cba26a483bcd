from django.apps import AppConfig


class SearchConfig(AppConfig):
    """Queries, composition, fusion, cutoffs and the search service."""

    name = "search"

    def ready(self) -> None:
        from galleries.signals import images_removed
        from indexing.signals import embeddings_stored
        from search import receivers
        from search.config import search_config

        embeddings_stored.connect(receivers.on_embeddings_stored, dispatch_uid="search.stats")
        images_removed.connect(receivers.on_images_removed, dispatch_uid="search.removed")
        search_config()  # a typo in the environment fails at start-up (cbir_site/config.py)
