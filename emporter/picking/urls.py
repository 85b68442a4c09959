from django.urls import path

from . import views

app_name = "picking"
urlpatterns = [
    path("", views.index, name="index"),
    path("branches/<int:branch_id>/build/", views.build, name="build"),
    path("branches/<int:branch_id>/receive/", views.receive, name="receive"),
    path("branches/<int:branch_id>/labels.pdf", views.labels_pdf, name="labels_pdf"),
    path("runs/<int:run_id>/", views.run_list, name="run"),
    path("runs/<int:run_id>/list.pdf", views.run_pdf, name="run_pdf"),
    path("runs/<int:run_id>/pick/", views.pick, name="pick"),
    path("runs/<int:run_id>/scan/", views.scan, name="scan"),
    path("lines/<int:line_id>/mark/", views.mark, name="mark"),
    path("missing/", views.missing, name="missing"),
    path("missing/<int:copy_id>/put-back/", views.put_back, name="put_back"),
]
