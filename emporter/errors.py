"""Errors that reach people: a stable ``code`` for machines, a translated message for humans."""

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

# code -> (message, HTTP status for the API). 409: the state of things forbids it;
# 422: the request itself is not acceptable; 404/403: not found / not yours.
MESSAGES = {
    "limit_reached": (_("You already have %(limit)s active requests, the most allowed."), 409),
    # An open surprise bag holds places too (holds.policy.promised_places): both named.
    "limit_reached_with_surprise": (
        ngettext_lazy(
            "Your requests in progress (%(requests)s) and your surprise bag (%(places)s document) "
            "reach the most allowed, %(limit)s.",
            "Your requests in progress (%(requests)s) and your surprise bag (%(places)s documents) "
            "reach the most allowed, %(limit)s.",
            "places",
        ),
        409,
    ),
    # The same, said to a guardian placing for a child (holds.placement._check_limits).
    "child_limit_reached": (_("%(name)s already has %(limit)s active requests, the most allowed."), 409),
    "child_limit_reached_with_surprise": (
        ngettext_lazy(
            "%(name)s’s requests in progress (%(requests)s) and surprise bag (%(places)s document) "
            "reach the most allowed, %(limit)s.",
            "%(name)s’s requests in progress (%(requests)s) and surprise bag (%(places)s documents) "
            "reach the most allowed, %(limit)s.",
            "places",
        ),
        409,
    ),
    "type_limit_reached": (
        _("You already have %(limit)s active requests for this kind of document (%(doc_type)s)."),
        409,
    ),
    "already_requested": (_("You have already requested this document."), 409),
    "already_on_loan": (_("You already have this document at home: it cannot be requested again."), 409),
    "placement_conflict": (_("This document could not be set aside just now: please try again."), 409),
    "idempotency_key_reused": (
        _("This Idempotency-Key was already used for another basket (other documents or pickup library)."),
        422,
    ),
    "unknown_record": (_("This document is no longer in the catalogue."), 404),
    "nothing_available": (_("No copy of this document is on the shelf right now."), 409),
    "no_copy": (_("This document has no copy in the network yet: it cannot be requested."), 409),
    "nothing_to_lend": (
        _("No copy of this document is lent (reference collection, or withdrawn): consult it on site."),
        409,
    ),
    "type_not_requestable": (_("This kind of document (%(doc_type)s) cannot be requested."), 422),
    "branch_not_accepting": (_("%(branch)s is not taking requests at the moment."), 422),
    "patron_blocked": (_("Your account is blocked: %(reason)s. Please contact your library."), 403),
    "card_expired": (_("Your card has expired. Please contact your library to renew it."), 403),
    # The same, said to a guardian about a child's card (holds.selectors.card_refusal).
    "child_blocked": (_("%(name)s’s account is blocked by the library: %(reason)s."), 403),
    "child_card_expired": (_("%(name)s’s card has expired: your library renews it."), 403),
    "not_cancellable": (_("This request can no longer be cancelled."), 409),
    "not_active": (_("This request is over (cancelled, collected or expired)."), 409),
    "bag_not_ready": (_("Nothing is ready in this bag yet: wait for the email saying it is."), 409),
    "keep_not_later": (_("Choose a day after %(date)s, the bag's present last day."), 422),
    "keep_too_long": (_("A bag may be kept %(days)s days from today at most."), 422),
    "keep_closed_day": (_("%(branch)s is closed on %(date)s: choose a day it opens."), 422),
    "no_pickup_times": (_("This library does not take pickup times: come whenever it is open."), 409),
    "slot_unavailable": (_("This time cannot be chosen: pick one of the times offered."), 422),
    "pickup_library_closed": (
        _("%(branch)s is closed for now: your bag waits there until it reopens."),
        409,
    ),
    "library_not_open_now": (
        _("%(branch)s is not open at this hour: say you are here once it is open."),
        409,
    ),
    "slot_full": (_("Someone took the last place at this time just now: please choose another."), 409),
    "pickup_not_changeable": (
        _("This document is already on its way to your library: it can no longer be collected elsewhere."),
        409,
    ),
    "surprise_form_used": (
        _("This form already asked for a surprise bag for %(name)s: open the page again to ask for another."),
        409,
    ),
    "on_loan_check_in": (_("%(barcode)s is on loan: check it in at Returns."), 409),
    "none_of_its_own": (
        _("%(branch)s lends only its own copies, and has none of this document: choose another library."),
        409,
    ),
    "pickup_no_copy": (_("%(branch)s cannot have a copy of this document set aside for you."), 409),
    "conflict": (_("Someone else changed this request at the same moment; please try again."), 409),
    "not_found": (_("No such request."), 404),
    "forbidden": (_("You are not allowed to do this here."), 403),
    "login_failed": (_("Card number or PIN is wrong."), 401),
    "login_slowed": (_("Too many failed attempts: wait %(seconds)s seconds before trying again."), 429),
    "login_locked": (
        _(
            "Too many failed attempts: this card is locked until %(until)s. Forgotten your PIN? "
            "Your library can give you a new one."
        ),
        429,
    ),
    "login_address_locked": (
        _("Too many failed sign-ins from this connection: try again in 15 minutes."),
        429,
    ),
    "pin_wrong": (_("Your current PIN is wrong."), 422),
    "pin_invalid": (_("A PIN is 4 to 8 digits."), 422),
    "pin_too_easy": (
        _(
            "This PIN is among the first anyone would try (repeated or consecutive digits, or one of "
            "the most common): choose another."
        ),
        422,
    ),
    "line_already_marked": (_("This line was already marked by someone else."), 409),
    "pickup_closed_leave": (
        _(
            "Leave %(barcode)s on its shelf: the library it was for, %(branch)s, has closed. "
            "It stays set aside for its patron."
        ),
        409,
    ),
    "unknown_barcode": (_("No copy has the barcode %(barcode)s."), 404),
    "not_on_this_list": (_("%(barcode)s is not on this pick list (or was already marked)."), 409),
    # Another copy of a listed title in the picker's hand, which cannot serve its request
    # (picking.services.line_for_barcode):
    "in_hand_other_branch": (
        _(
            "%(barcode)s belongs to %(branch)s: it cannot serve this library’s list. "
            "The list asks for %(listed)s."
        ),
        409,
    ),
    "in_hand_held": (
        _("%(barcode)s is held for another request: it cannot serve this one. The list asks for %(listed)s."),
        409,
    ),
    "in_hand_not_on_shelf": (
        _(
            "%(barcode)s is recorded as “%(status)s”, not on the shelf: it cannot serve a request. "
            "The list asks for %(listed)s."
        ),
        409,
    ),
    "in_hand_not_lent": (
        _(
            "%(barcode)s is not lent from its location: it cannot serve a request. "
            "The list asks for %(listed)s."
        ),
        409,
    ),
    "in_hand_wrong_type": (
        _("%(barcode)s is of a kind (%(doc_type)s) this request may not take. The list asks for %(listed)s."),
        409,
    ),
    "in_hand_changed": (
        _("The request %(barcode)s would have served changed a moment ago: scan it again."),
        409,
    ),
    "in_hand_busy": (
        _("%(barcode)s is being changed by someone else just now: scan it again."),
        409,
    ),
    "missing_in_hand": (
        _(
            "%(barcode)s was marked not found a moment ago, but you have it: press "
            "“Found it: put back” for it in the missing copies."
        ),
        409,
    ),
    "already_found": (_("%(barcode)s was already marked found: it goes in bag %(label)s."), 409),
    "already_found_cancelled": (
        _("%(barcode)s was already marked found, but its request was cancelled since: scan it at Returns."),
        409,
    ),
    "already_found_put_back": (
        _("%(barcode)s was already marked found, but its request was cancelled: put it back on the shelf."),
        409,
    ),
    "already_found_transit": (
        _("%(barcode)s was already marked found: it goes in the van to %(branch)s."),
        409,
    ),
    "send_on": (_("%(barcode)s is not for this library: send it on to %(branch)s."), 409),
    "not_in_transit": (_("%(barcode)s is not expected here."), 409),
    # A copy whose request was cancelled, or not collected, on its way back to its library.
    "send_home": (_("%(barcode)s is not for a bag here any more: send it back to %(home)s."), 409),
    "scan_at_returns": (_("%(barcode)s is not for a bag any more: scan it at Returns to shelve it."), 409),
    "not_on_loan": (_("%(barcode)s is not on loan."), 409),
    "not_renewable": (_("This loan cannot be renewed any more."), 409),
    "requested_by_someone_else": (_("Someone is waiting for this document: it cannot be renewed."), 409),
    "nothing_ready": (_("Nothing is ready for this card here yet."), 404),
    "unknown_card": (_("No patron has the card %(card)s."), 404),
    "invalid_move": (_("A request cannot go from %(old)s to %(new)s."), 409),
    # Surprise bags (discovery.services).
    "surprise_not_yours": (_("You can only ask for yourself or for one of your children."), 403),
    "surprise_over_limit": (
        ngettext_lazy(
            "You can ask for %(left)s more document at most (your requests in progress count).",
            "You can ask for %(left)s more documents at most (your requests in progress count).",
            "left",
        ),
        409,
    ),
    "surprise_no_allowance": (
        _("You have reached the most requests allowed: collect or cancel one before requesting more."),
        409,
    ),
    # The same two, said to a guardian asking for a child: about the child's card.
    "child_surprise_over_limit": (
        ngettext_lazy(
            "%(name)s can ask for %(left)s more document at most (their requests in progress count).",
            "%(name)s can ask for %(left)s more documents at most (their requests in progress count).",
            "left",
        ),
        409,
    ),
    "child_surprise_no_allowance": (
        _(
            "%(name)s has reached the most requests allowed: collect or cancel one of their requests "
            "before asking for more."
        ),
        409,
    ),
    "surprise_empty": (_("Choose at least one document."), 422),
    "lend_none_ticked": (_("Tick at least one document to lend."), 422),
    "surprise_copy_taken": (
        _("No copy of “%(title)s” is free any more (taken meanwhile): choose another document."),
        409,
    ),
    "surprise_not_open": (_("This surprise bag is no longer open."), 409),
    "surprise_not_guardian_now": (
        _(
            "The person who asked for this bag is no longer this child's guardian: it is not "
            "composed. The child's guardian now can cancel it from their account."
        ),
        409,
    ),
    "surprise_too_many": (
        ngettext_lazy(
            "The patron asked for %(n)s document: choose no more.",
            "The patron asked for %(n)s documents: choose no more.",
            "n",
        ),
        422,
    ),
    # The card was erased while this call waited for it (privacy.services.erase_patron).
    "patron_gone": (_("This card is no longer on the network."), 404),
    # Erasing a patron (privacy.services.erase_patron): said to staff, in the admin.
    "erase_loans_out": (
        _("%(name)s still has documents at home: they can be erased once everything is returned."),
        409,
    ),
    "erase_requests_under_way": (
        _("%(name)s has requests under way: cancel them (or hand them over) before erasing."),
        409,
    ),
    "erase_documents_in_bag": (
        _(
            "A document of %(name)s is still in their bag (on the hold shelf, or on its way home): "
            "scan it at Returns before erasing."
        ),
        409,
    ),
    "erase_surprise_open": (
        _("%(name)s has a surprise bag waiting for a librarian: cancel it before erasing."),
        409,
    ),
    "erase_guardian": (
        _("%(name)s is the guardian of children on the network: give them another guardian first."),
        409,
    ),
    "copy_status_changed": (
        _("%(barcode)s changed meanwhile (it is now “%(status)s”): its status was left as it is."),
        409,
    ),
    # Checked by the screens themselves, before any service is called (the views named).
    # The basket: holds.views (the patron's) and phonedesk.views (a caller's, at the desk).
    "staff_no_basket": (
        _("Staff accounts have no basket: request documents for a patron at the phone desk."),
        403,
    ),
    "basket_full": (_("The basket is full: confirm it before adding more."), 409),
    "basket_empty": (_("The basket is empty."), 422),
    "basket_records_gone": (_("Some documents in your basket are no longer in the catalogue."), 404),
    "choose_for_whom": (_("Choose whom the documents are for."), 422),
    # The patron's choice of library: the list offers only those taking requests.
    "choose_pickup": (_("Choose a library taking requests."), 422),
    # Chosen from the list, then switched off (or a made-up choice).
    "pickup_not_accepting": (
        _("This library is not taking requests at the moment: choose another one."),
        409,
    ),
    # The phone desk's: a librarian acts only for the libraries of their scope.
    "choose_pickup_for_patron": (_("Choose the library where the patron will collect the documents."), 422),
    "pickup_out_of_scope": (_("You may not place requests for pickup at %(branch)s."), 403),
    "choose_pickup_in_scope": (_("Choose a library taking requests in your scope."), 422),
    "form_out_of_date": (_("This form is out of date: check the basket and confirm again."), 422),
    "too_many_at_once": (
        _("At most %(count)s documents can be confirmed at once: remove some from the basket."),
        422,
    ),
    "bag_out_of_scope": (_("You may not change bags at %(branch)s."), 403),
    "keep_day_missing": (_("Give the day until which the bag is kept."), 422),
    "cancel_out_of_scope": (_("You may not cancel requests for pickup at %(branch)s."), 403),
    # The door (desk.views): a name typed in the card field, emailing a receipt, a missing
    # copy put back.
    "name_too_short": (_("Type a card number, or at least three letters of a name."), 422),
    "nobody_ready_named": (_("Nobody named “%(name)s” has anything ready here."), 404),
    "receipt_empty": (_("There is nothing on this receipt."), 422),
    "no_email_address": (_("This patron has no email address."), 409),
    "email_refused": (
        _("The mail server refused %(email)s as unknown: correct it on the patron's card."),
        409,
    ),
    "not_missing": (_("%(barcode)s is not marked missing (any more)."), 409),
}


class ServiceError(Exception):
    def __init__(self, code: str, **params):
        if code not in MESSAGES:
            raise ValueError(f"unknown error code {code!r}")
        self.code = code
        self.params = params
        super().__init__(code)

    @property
    def message(self) -> str:
        template, _status = MESSAGES[self.code]
        # Numbers stay numbers: a message worded by count (ngettext_lazy) picks its form.
        return str(template % {k: v if isinstance(v, int) else str(v) for k, v in self.params.items()})

    @property
    def http_status(self) -> int:
        return MESSAGES[self.code][1]
