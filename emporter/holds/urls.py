from django.urls import path

from . import views

app_name = "holds"
urlpatterns = [
    path("", views.show_basket, name="basket"),
    path("add/<int:record_id>/", views.add_to_basket, name="add"),
    path("remove/<int:record_id>/", views.remove_from_basket, name="remove"),
    path("confirm/", views.confirm_basket, name="confirm"),
    path("requests/<int:request_id>/cancel/", views.cancel, name="cancel"),
    path("requests/<int:request_id>/pickup/", views.change_pickup, name="change_pickup"),
]
