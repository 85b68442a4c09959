from django.urls import path

from . import views

app_name = "notices"
urlpatterns = [
    path("", views.outbox, name="outbox"),
    path("<int:notice_id>/resend/", views.resend, name="resend"),
    path("mailbox/", views.mailbox, name="mailbox"),
]
