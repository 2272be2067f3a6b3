"""The ASGI application of the test project: `tests.hosting.apps.django_site.asgi:app`."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.hosting.apps.django_site.settings")

app = get_asgi_application()
