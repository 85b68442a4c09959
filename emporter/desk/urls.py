from django.urls import path

from . import views

app_name = "desk"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:branch_id>/", views.door, name="door"),
    path("<int:branch_id>/hand-over/", views.hand_over, name="hand_over"),
    path("<int:branch_id>/lend-expired/", views.lend_expired, name="lend_expired"),
    path("<int:branch_id>/receipt/<int:patron_id>/", views.receipt, name="receipt"),
    path("<int:branch_id>/receipt/<int:patron_id>/email/", views.email_receipt, name="email_receipt"),
    path("<int:branch_id>/shelf/", views.shelf, name="shelf"),
    path("<int:branch_id>/returns/", views.returns, name="returns"),
    path("<int:branch_id>/returns/put-back/", views.put_back, name="put_back"),
    path("<int:branch_id>/bags/<int:bag_id>/label.pdf", views.bag_label, name="bag_label"),
]

# The patron's side, mounted under the account: renew a loan.
patron_urlpatterns = (
    [path("<int:loan_id>/renew/", views.renew, name="renew")],
    "loans",
)
