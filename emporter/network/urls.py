from django.urls import path

from . import views

app_name = "network"
urlpatterns = [
    path("modes/", views.modes, name="modes"),
    path("modes/branch/<int:branch_id>/", views.switch_branch, name="switch_branch"),
    path("modes/network/", views.switch_network, name="switch_network"),
]
