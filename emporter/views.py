from django.db import connection
from django.http import HttpResponse
from django.shortcuts import render

from emporter.network.models import Branch


def home(request):
    branches = Branch.objects.prefetch_related("hours")
    return render(request, "home.html", {"branches": branches})


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")
