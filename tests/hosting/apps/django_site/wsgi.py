"""The project's WSGI handler (`covetpy run tests.hosting.apps.django_site.wsgi:application`)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.hosting.apps.django_site.settings")

application = get_wsgi_application()
