from django.apps import AppConfig


class CbirSiteConfig(AppConfig):
    """The site: settings, the typed configuration's plumbing, health, the serve command."""

    name = "cbir_site"

    def ready(self) -> None:
        from django.test.signals import setting_changed

        from cbir_site.config import configs_clear, site_config

        setting_changed.connect(configs_clear, dispatch_uid="cbir_site.configs_clear")
        site_config()  # a typo in the environment fails at start-up, not at the first request
