from django.urls import path

from . import views

app_name = "phonedesk"
urlpatterns = [
    path("", views.find, name="find"),
    path("patrons/<int:patron_id>/", views.patron, name="patron"),
    path("patrons/<int:patron_id>/add/", views.add, name="add"),
    path("patrons/<int:patron_id>/remove/", views.remove, name="remove"),
    path("patrons/<int:patron_id>/confirm/", views.confirm, name="confirm"),
    path("patrons/<int:patron_id>/requests/<int:request_id>/cancel/", views.cancel, name="cancel"),
    path("patrons/<int:patron_id>/bags/<int:bag_id>/keep/", views.keep_bag, name="keep_bag"),
    path(
        "patrons/<int:patron_id>/requests/<int:request_id>/pickup/",
        views.change_pickup_view,
        name="change_pickup",
    ),
]
