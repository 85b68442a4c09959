from django.urls import path

from . import views

app_name = "patrons"
urlpatterns = [
    path("login/", views.patron_login, name="login"),
    path("logout/", views.patron_logout, name="logout"),
    path("", views.account, name="account"),
    path("pin/", views.change_pin, name="change_pin"),
    path("loan-history/", views.loan_history, name="loan_history"),
    path("apps/sign-out/", views.sign_out_apps, name="sign_out_apps"),
]
