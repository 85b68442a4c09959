from django.urls import path

from . import views

app_name = "catalogue"

urlpatterns = [
    path("", views.search, name="search"),
    path("record/<int:pk>/", views.record, name="record"),
]
