from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from . import outbox
from .models import Notice, NoticeTemplate, State


@admin.register(Notice)
class NoticeAdmin(admin.ModelAdmin):
    list_display = ["created_at", "patron", "kind", "channel", "state", "attempts", "sent_to", "last_error"]
    list_filter = ["state", "kind", "channel"]
    search_fields = ["patron__card_number", "patron__last_name", "patron__email", "subject"]
    raw_id_fields = ["patron", "bag"]
    readonly_fields = [
        "state",
        "attempts",
        "last_error",
        "sent_to",
        "sent_at",
        "subject",
        "message_id",
        "dedupe_key",
        "next_attempt_at",
    ]
    actions = ["resend"]

    @admin.action(description=_("Send again (after correcting the address)"))
    def resend(self, request, queryset):
        count = sum(
            outbox.resend(notice=n) for n in queryset.filter(state__in=[State.FAILED, State.UNCERTAIN])
        )
        self.message_user(request, _("%(n)s notices will be sent again.") % {"n": count}, messages.SUCCESS)


@admin.register(NoticeTemplate)
class NoticeTemplateAdmin(admin.ModelAdmin):
    list_display = ["kind", "language", "subject"]
    list_filter = ["kind", "language"]
