import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emporter.settings")
application = get_wsgi_application()

# Every URLconf and the views it names, read now rather than at the first request: with
# gunicorn's --preload, before any worker takes traffic (the first page waited a second).
_ = get_resolver().url_patterns
