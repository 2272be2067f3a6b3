"""Settings of the test Django project: no database, no installed apps, one middleware."""

SECRET_KEY = "covetpy-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.hosting.apps.django_site.urls"
DATABASES: dict[str, dict[str, str]] = {}
INSTALLED_APPS: list[str] = []
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
USE_TZ = True
DEFAULT_CHARSET = "utf-8"
