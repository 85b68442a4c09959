"""The network administrator's imports: send a file, follow it, read what went wrong."""

import csv

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from emporter.patrons.permissions import network_admin_required
from emporter.spreadsheets import inert

from . import services
from .forms import ImportForm, max_upload_mb
from .models import ImportJob

RECENT = 30


@network_admin_required
def index(request):
    form = ImportForm(request.POST or None, request.FILES or None)
    if getattr(request, "upload_too_large", None):
        # Dropped as it arrived (emporter.http.CappedUploadHandler): said as too large,
        # not as missing.
        form.errors.pop("file", None)
        form.add_error("file", form.too_large())
    if request.method == "POST" and form.is_valid():
        job = services.submit(
            kind=form.cleaned_data["kind"],
            upload=form.cleaned_data["file"],
            options=form.options(),
            actor=request.user,
        )
        messages.success(request, _("%(file)s is queued for import.") % {"file": job.file_name})
        return redirect("imports:detail", job.pk)
    jobs = ImportJob.objects.select_related("created_by").defer("problems")[:RECENT]
    status = 422 if form.is_bound else 200
    return render(
        request, "imports/index.html", {"form": form, "jobs": jobs, "max_mb": max_upload_mb()}, status=status
    )


@network_admin_required
def detail(request, job_id: int):
    job = get_object_or_404(ImportJob.objects.select_related("created_by"), pk=job_id)
    return render(request, "imports/detail.html", {"job": job, "shown": len(job.problems)})


@network_admin_required
def problems_csv(request, job_id: int):
    job = get_object_or_404(ImportJob, pk=job_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-problems.csv"'
    response.write("\ufeff")  # spreadsheets read it as UTF-8
    writer = csv.writer(response, delimiter=";")
    writer.writerow([pgettext("in a file", "Where"), _("Code"), _("Problem")])
    for problem in job.problems:
        # A cell starting like a formula is text to a spreadsheet.
        writer.writerow([inert(problem["where"]), problem["code"], inert(problem["message"])])
    return response
