from django.contrib import admin

from .models import Loan, LoanPolicy


@admin.register(LoanPolicy)
class LoanPolicyAdmin(admin.ModelAdmin):
    list_display = ["__str__", "loan_days", "max_renewals", "anonymise_after_days"]


@admin.register(Loan)
class LoanAdmin(admin.ModelAdmin):
    list_display = ["copy", "patron", "branch", "checked_out_at", "due_date", "renewals", "returned_at"]
    list_filter = ["branch", "returned_at", "anonymised"]
    search_fields = ["copy__barcode", "patron__card_number"]
    list_select_related = ["copy", "patron", "branch"]
    raw_id_fields = ["copy", "patron", "request", "checked_out_by"]
    # Loans change at the door (check-out, returns, renewals), never by hand here.
    readonly_fields = ["checked_out_at", "returned_at", "anonymised"]
    date_hierarchy = "checked_out_at"
