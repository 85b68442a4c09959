from django.urls import path

from . import views

app_name = "discovery"
urlpatterns = [
    path("", views.index, name="index"),
    path("browse/", views.browse, name="browse_all"),
    path("browse/<slug:band>/", views.browse, name="browse_band"),
    path("browse/<slug:band>/<slug:kind>/", views.browse, name="browse"),
    path("selections/<int:pk>/", views.selection, name="selection"),
    path("libraries/<int:pk>/", views.branch_page, name="branch"),
    path("surprise/", views.surprise, name="surprise"),
    path("surprise/<int:pk>/cancel/", views.surprise_cancel, name="surprise_cancel"),
    path("staff/surprise/", views.queue, name="queue"),
    path("staff/surprise/<int:pk>/", views.compose, name="compose"),
]
