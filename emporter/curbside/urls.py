from django.urls import path

from . import views

app_name = "curbside"
urlpatterns = [
    path("<int:bag_id>/times/", views.times, name="times"),
    path("<int:bag_id>/times/cancel/", views.cancel, name="cancel"),
    path("<int:bag_id>/here/", views.here, name="here"),
    path("<int:bag_id>/not-here/", views.not_here, name="not_here"),
]
