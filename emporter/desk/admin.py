from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from emporter import admin_search
from emporter.admin_search import IndexedSearch

from .models import Loan, LoanPolicy


@admin.register(LoanPolicy)
class LoanPolicyAdmin(admin.ModelAdmin):
    list_display = ["__str__", "loan_days", "max_renewals", "anonymise_after_days"]


@admin.register(Loan)
class LoanAdmin(IndexedSearch, admin.ModelAdmin):
    list_display = ["copy", "patron", "branch", "checked_out_at", "due_date", "renewals", "returned_at"]
    list_filter = ["branch", "returned_at", "anonymised"]
    search_fields = ["copy__barcode"]  # (searched by admin_search: the box is shown for these)
    search_by = {"copy_id": admin_search.copies, "patron_id": admin_search.patrons}
    search_help_text = _("A barcode or a card, or words of a patron's name.")
    list_select_related = ["copy", "patron", "branch"]
    # Loans change at the door (check-out, returns, renewals), never by hand here: a loan
    # added here lent a copy promised to a request (the hand-over then failed), one
    # deleted left its copy "on loan" to nobody and its borrower erasable, one re-pointed
    # named a copy on the shelf. Only the due date may be moved (a librarian's favour).
    readonly_fields = [
        "copy",
        "patron",
        "request",
        "branch",
        "checked_out_at",
        "checked_out_by",
        "renewals",
        "returned_at",
        "returned_branch",
        "anonymised",
    ]
    date_hierarchy = "checked_out_at"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # The due date alone: a whole save would write back the return or the
        # anonymisation a door or the sweep committed since the page was read.
        obj.save(update_fields=["due_date"])
