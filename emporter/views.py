from django.db import connection
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from emporter.jobs import health
from emporter.network.models import Branch


def home(request):
    branches = Branch.objects.prefetch_related("hours")
    return render(request, "home.html", {"branches": branches})


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")


@never_cache
def healthz_jobs(request):
    """For operators' monitoring, not the load balancer (a stuck scheduler is no reason to
    take a web server out): 503 and what is wrong, one line each, when the scheduler has
    been silent, notices are not being sent or queued tasks not taken."""
    found = health.problems()
    if found:
        return HttpResponse("\n".join(found) + "\n", status=503, content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")
