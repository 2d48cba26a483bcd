import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cbir_site.settings")
application = get_wsgi_application()

# Large request bodies spool into a folder of this process's own, which the next web
# process to start removes if this one is killed mid-upload (cbir_site/upload_spool.py).
from cbir_site.upload_spool import claim  # noqa: E402

claim()
