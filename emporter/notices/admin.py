from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from emporter import admin_search
from emporter.admin_search import IndexedSearch

from . import outbox, render
from .models import Kind, Notice, NoticeTemplate, State


@admin.register(Notice)
class NoticeAdmin(IndexedSearch, admin.ModelAdmin):
    list_display = ["created_at", "patron", "kind", "channel", "state", "attempts", "sent_to", "error"]
    list_filter = ["state", "kind", "channel"]
    search_fields = ["patron__card_number"]  # (searched by admin_search: the box is shown for these)
    search_by = {"patron_id": admin_search.patrons}
    search_help_text = _("A card, an email address, or words of a patron's name.")
    list_select_related = ["patron"]
    raw_id_fields = ["patron", "bag"]
    # Its key names the event it first told (or a bag, an appointment): what a request
    # forgotten at return must no longer lead back to. No use to staff.
    exclude = ["dedupe_key"]
    readonly_fields = [
        "state",
        "attempts",
        "error",
        "error_code",
        "last_error",
        "sent_to",
        "sent_at",
        "subject",
        "message_id",
        "next_attempt_at",
    ]
    actions = ["resend"]

    @admin.display(description=_("last error"))
    def error(self, notice: Notice) -> str:
        return notice.error_message

    @admin.action(permissions=["change"], description=_("Send again (after correcting the address)"))
    def resend(self, request, queryset):
        count = sum(
            outbox.resend(notice=n) for n in queryset.filter(state__in=[State.FAILED, State.UNCERTAIN])
        )
        self.message_user(request, _("%(n)s notices will be sent again.") % {"n": count}, messages.SUCCESS)


class NoticeTemplateForm(forms.ModelForm):
    class Meta:
        model = NoticeTemplate
        fields = ["kind", "language", "subject", "body_text", "body_html"]

    def clean(self):
        """Wording with a mistake is refused here, where its author can correct it,
        rather than found out when notices are sent."""
        cleaned = super().clean()
        kind = cleaned.get("kind") or Kind.READY
        language = cleaned.get("language") or settings.LANGUAGE_CODE
        for field in ("subject", "body_text", "body_html"):
            if cleaned.get(field):
                error = render.wording_error(cleaned[field], kind=kind, language=language)
                if error:
                    self.add_error(
                        field,
                        ValidationError(
                            _("This wording cannot be used: %(error)s"),
                            code="invalid_wording",
                            params={"error": error},
                        ),
                    )
        return cleaned


VARIABLES = _(
    "Django template language. Variables: {{ greeting_name }} (whom the email greets), "
    "{{ for_child }} (the child the requests are for, if any), {{ requests }} (each with "
    "{{ r.record.title }}), {{ ready }}, {{ not_found }}, {{ set_aside }}, {{ waiting }}, {{ expired }}, "
    "{{ cancellations }} (pairs: request, reason), {{ bag.label }}, {{ hold_until }}, "
    "{{ last_day }} (true when sent on the bag's last day), "
    "{{ coming }} and {{ still_waiting }} (a ready notice: the patron's other documents set "
    "aside, or on the waiting list, at that library), "
    "{{ branch.name }}, {{ hours }}, {{ account_url }}, {{ times_url }}, {{ search_url }}; "
    "for a receipt, {{ loans }} (each with {{ line.title }}, {{ line.due_date }}) and {{ in_bag }}. "
    "Only these values can be read; no other template or tag library can be loaded."
)


@admin.register(NoticeTemplate)
class NoticeTemplateAdmin(admin.ModelAdmin):
    form = NoticeTemplateForm
    list_display = ["kind", "language", "subject"]
    list_filter = ["kind", "language"]
    # What is sent now, as a starting point: staff wording replaces it entirely.
    readonly_fields = ["built_in_wording"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.base_fields["body_text"].help_text = VARIABLES
        return form

    @admin.display(description=_("built-in wording (plain text), to start from"))
    def built_in_wording(self, template: NoticeTemplate):
        kinds = [template.kind] if template and template.kind else [k for k, _label in Kind.choices]
        return format_html_join(
            "",
            '<p><strong>{}</strong></p><pre style="white-space: pre-wrap">{}</pre>',
            ((Kind(kind).label, render.shipped_source(kind)) for kind in kinds),
        )
