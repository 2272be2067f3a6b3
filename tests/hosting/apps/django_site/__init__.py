"""A minimal Django project (no database) served over ASGI in tests/hosting/test_asgi_django.py."""
