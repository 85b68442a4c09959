import dataclasses
import ipaddress
import logging
import operator
from functools import reduce

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.admin.options import ActionLocation
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.contenttypes.models import ContentType
from django.db.models import Exists, OuterRef, ProtectedError, Q
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from emporter import admin_search
from emporter.admin_search import IndexedSearch
from emporter.errors import ServiceError
from emporter.privacy import services as privacy

from . import services, throttle
from .models import Patron, SignInFailures, StaffRole

audit = logging.getLogger("emporter.audit")


def patrons_or_source_id(term: str) -> list:
    """``admin_search.patrons``, and the patron whose id in the library system (Koha's
    borrowernumber) is ``term``: the id staff read in the library system's screens."""
    return [*admin_search.patrons(term), Patron.objects.filter(source_id=term).values("pk")]


class EmailRefusedFilter(admin.SimpleListFilter):
    """Patrons whose address the mail server refused as unknown: after a relay's mistake,
    staff find them all, and write to them again at once (``write_again``)."""

    title = _("email address refused")
    parameter_name = "email_refused"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes"))]

    def queryset(self, request, queryset):
        return queryset.exclude(email_refused="") if self.value() == "yes" else queryset


@admin.register(Patron)
class PatronAdmin(IndexedSearch, admin.ModelAdmin):
    list_display = ["card_number", "last_name", "first_name", "home_branch", "category"]
    list_filter = ["home_branch", "category", EmailRefusedFilter]
    search_fields = ["card_number"]  # (searched by admin_search: the box is shown for these)
    search_by = {"pk": patrons_or_source_id}
    search_help_text = _(
        "A card, a phone number, an email address, words of the name, or the id in the library system."
    )
    raw_id_fields = ["user", "guardian"]
    # The library system's: written by its imports (a typo here would join two people).
    # And the address the mail server refused as unknown: correcting the email lifts it.
    readonly_fields = ["source_id", "imported_at", "email_refused"]
    actions = ["reset_pin", "write_again"]

    # Who looked at whom, as the phone desk and the door write it.
    def changelist_view(self, request, extra_context=None):
        if query := request.GET.get("q"):
            audit.info("admin: %s searched patrons %r", request.user.pk, query)
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        audit.info("admin: %s opened patron %s", request.user.pk, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    # Deleting a patron is erasing them (privacy.services.erase_patron): the delete page
    # says what goes and what stops it; the figures stay, nothing names them any more.
    def get_deleted_objects(self, objs, request):
        patrons = list(objs)
        refusals = [
            ServiceError(code, name=str(p)).message for p in patrons if (code := privacy.why_not_erasable(p))
        ]
        erased = [
            gettext(
                "%(name)s: their account, PIN, apps and sessions, notices, surprise bags; their loans and "
                "requests stay for the figures, without their name."
            )
            % {"name": str(p)}
            for p in patrons
        ]
        return erased, {str(Patron._meta.verbose_name_plural): len(patrons)}, set(), refusals

    def log_deletions(self, request, queryset):
        """Nothing yet: the history says a patron was erased once they are (``_erase``)."""

    def delete_model(self, request, obj):
        self._erase(request, obj)

    def delete_queryset(self, request, queryset):
        return sum(self._erase(request, patron) for patron in queryset)

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        actions = super().get_actions(request, action_location=action_location)
        if "delete_selected" in actions:  # its page and its checks, with our count
            actions["delete_selected"] = dataclasses.replace(actions["delete_selected"], func=erase_selected)
        return actions

    def response_delete(self, request, obj_display, obj_id):
        if Patron.objects.filter(pk=obj_id).exists():  # refused: said by _erase, nothing deleted
            return redirect(reverse("admin:patrons_patron_change", args=[obj_id]))
        return super().response_delete(request, gettext("A patron erased at their request"), obj_id)

    def _erase(self, request, patron) -> bool:
        try:
            privacy.erase_patron(patron_id=patron.pk, actor=request.user)
        except ServiceError as error:  # something started meanwhile: the page said it could
            self.message_user(request, error.message, messages.ERROR)
            return False
        except ProtectedError as error:  # a row that names them no rule here forgets: kept, said
            kinds = sorted({str(type(o)._meta.verbose_name) for o in error.protected_objects})
            self.message_user(
                request,
                gettext("%(name)s is kept: still named by %(what)s.")
                % {"name": patron, "what": ", ".join(kinds)},
                messages.ERROR,
            )
            return False
        # The admin's history keeps that someone was erased, and by whom: not who. In the
        # network's language, whoever erased: one wording for every such line.
        with translation.override(settings.LANGUAGE_CODE):
            said = gettext("A patron erased at their request")
        LogEntry.objects.create(
            user_id=request.user.pk,
            content_type=ContentType.objects.get_for_model(Patron),
            object_id=None,
            object_repr=said,
            action_flag=DELETION,
        )
        return True

    @admin.action(permissions=["change"], description=_("Give a new PIN (shown once, to tell the patron)"))
    def reset_pin(self, request, queryset):
        # One patron at a time, the one at the desk or on the phone: a new PIN ends their
        # sessions and apps, and a page of patrons ticked by mistake locked them all out.
        patrons = list(queryset.select_related("user")[:2])
        if len(patrons) != 1:
            self.message_user(
                request,
                _("Choose one patron to give a new PIN to: it signs them out everywhere."),
                messages.ERROR,
            )
            return
        pin = services.reset_pin(patron=patrons[0])
        self.message_user(
            request,
            _("New PIN for %(card)s: %(pin)s") % {"card": patrons[0].card_number, "pin": pin},
            messages.WARNING,
        )

    @admin.action(permissions=["change"], description=_("Write to their email address again"))
    def write_again(self, request, queryset):
        # Their next notices go to the server again; those that failed, "Send again".
        count = queryset.exclude(email_refused="").update(email_refused="")
        text = ngettext(
            "%(n)s address will be written to again.", "%(n)s addresses will be written to again.", count
        )
        self.message_user(request, text % {"n": count})


@admin.action(permissions=["delete"])
def erase_selected(modeladmin, request, queryset):
    """Django's bulk deletion (its confirmation page, its checks), counting whom it erased:
    one may have placed a request since the page said they could go, and is kept."""
    *_, refusals = modeladmin.get_deleted_objects(queryset, request)
    if not request.POST.get("post") or refusals:
        return delete_selected(modeladmin, request, queryset)
    if erased := modeladmin.delete_queryset(request, queryset):
        modeladmin.message_user(
            request,
            ngettext(
                "%(count)d patron erased at their request.",
                "%(count)d patrons erased at their request.",
                erased,
            )
            % {"count": erased},
            messages.SUCCESS,
        )
    return None


@admin.register(StaffRole)
class StaffRoleAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "branch"]
    list_filter = ["role", "branch"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            # Staff accounts only: a card's account never holds a role (StaffRole.clean),
            # and a network's 100,000 cards made the list unusable.
            kwargs["queryset"] = get_user_model().objects.filter(patron__isnull=True).order_by("username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def _address_keys(term: str) -> set[str]:
    """The keys an address's counts are kept under ("" when ``term`` is no address)."""
    for written in (term, f"{term}::"):
        try:
            ipaddress.ip_address(written)
        except ValueError:
            continue
        return {throttle.address_key(written), throttle.client_key(written)}
    return set()


@admin.register(SignInFailures)
class SignInFailuresAdmin(admin.ModelAdmin):
    """Deleting a row unlocks what it counts: a staff name, a card, an address (from one
    address, or from anywhere). A card has two rows, both to delete to unlock it."""

    list_display = ["counted", "whose", "where", "failures", "locked", "locked_until", "updated_at"]
    search_fields = ["username"]
    readonly_fields = ["username", "failures", "locked_until", "updated_at"]
    actions = ["unlock"]

    def has_add_permission(self, request):
        return False

    def get_search_results(self, request, queryset, search_term):
        """An address as staff are given it (a patron's, or its /64 written without its
        "::") finds its counts too, kept under its /64 or /56 (throttle.client_key)."""
        found, duplicates = super().get_search_results(request, queryset, search_term)
        if keys := _address_keys(search_term.strip()):
            # Whole: "203.0.113.7" is not "203.0.113.70" (keys end with the address or a space).
            whole = (Q(username__contains=f" {key} ") | Q(username__endswith=f" {key}") for key in keys)
            found |= queryset.filter(reduce(operator.or_, whole))
        return found, duplicates

    @admin.display(description=_("what is counted"))
    def counted(self, row):
        return throttle.describe(row.username)[0]

    @admin.display(description=_("card or name"))
    def whose(self, row):
        return throttle.describe(row.username)[1] or "—"

    @admin.display(description=_("address"))
    def where(self, row):
        return throttle.describe(row.username)[2] or "—"

    @admin.display(description=_("locked"), boolean=True)
    def locked(self, row):
        # A locked row's count starts again at 0: "locked" says what the count does not.
        return bool(row.locked_until and row.locked_until > timezone.now())

    @admin.action(permissions=["delete"], description=_("Unlock (a card: from every address)"))
    def unlock(self, request, queryset):
        count = queryset.count()
        keys = list(queryset.values_list("username", flat=True))
        for card in {throttle.describe(key)[1] for key in keys if key.startswith("!pin ")}:
            throttle.pin_succeeded(card)
        for name in {throttle.describe(key)[1] for key in keys if not key.startswith("!")}:
            throttle.unlock_name(name)
        queryset.delete()
        text = ngettext("%(n)s count deleted.", "%(n)s counts deleted.", count) % {"n": count}
        self.message_user(request, text)


User = get_user_model()


class AccountAdmin(DjangoUserAdmin):
    """Django's user admin, except that a card's account is not deleted here: deleting it
    took its patron by cascade, past the erasure's refusals (a child left with no adult
    answering for them, a document at home) and its forgetting (sign-in counts, admin
    history, notices' addresses). Patrons are erased from the patrons' admin."""

    def has_delete_permission(self, request, obj=None):
        if obj is not None and Patron.objects.filter(user=obj).exists():
            return False
        return super().has_delete_permission(request, obj)

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            # A card's PIN set here, or its password sign-in turned off (a stolen phone),
            # ends its app's tokens as patrons.services.set_pin does: patron tokens carry
            # no mark of the password (api.tokens), so nothing else would end them.
            get_user_model().objects.get(pk=id).api_tokens.all().delete()
        return response

    def delete_queryset(self, request, queryset):
        cards = queryset.filter(Exists(Patron.objects.filter(user=OuterRef("pk"))))
        if kept := cards.count():
            self.message_user(
                request,
                ngettext(
                    "%(n)s card's account was not deleted: erase its patron from the patrons' page.",
                    "%(n)s cards' accounts were not deleted: erase their patrons from the patrons' page.",
                    kept,
                )
                % {"n": kept},
                messages.WARNING,
            )
        super().delete_queryset(request, queryset.exclude(pk__in=cards.values("pk")))


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, AccountAdmin)
