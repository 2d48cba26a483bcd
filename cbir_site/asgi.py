import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cbir_site.settings")
application = get_asgi_application()

from cbir_site.upload_spool import claim  # noqa: E402  (see wsgi.py)

claim()
