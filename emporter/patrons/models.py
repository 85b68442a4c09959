"""Card holders (patrons) and staff roles.

A patron signs in with card number + PIN: each patron owns a Django user whose
username is the card number and whose password is the PIN, so sessions, hashing and
tokens are Django's own. Staff are Django users with role assignments per branch.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _

from emporter.network.models import Branch


class PatronCategory(models.TextChoices):
    ADULT = "adult", _("Adult")
    CHILD = "child", _("Child")


class NoticeChannel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")


class LoanHistory(models.TextChoices):
    """Whether a patron's returned loans stay linked to them (Koha's patron privacy
    setting): keeping them is the patron's consent, asked on their account page."""

    LIBRARY = "library", _("As the library's rules say")
    KEEP = "keep", _("Keep my loan history")
    FORGET = "forget", _("Forget each loan when it is returned")


class PatronQuerySet(models.QuerySet):
    def with_card(self, card_number: str):
        """The patron holding this card, its letters in capitals or not: a card is scanned
        or typed, and "b0012" is the card printed "B0012" (the database keeps them one)."""
        return self.filter(card_number__iexact=card_number.strip())


class Patron(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="patron", verbose_name=_("user")
    )
    # Unique in any capitals (Meta.constraints); the user's name is the card as first
    # issued, so a card replaced or typed in other capitals is found through this field.
    card_number = models.CharField(_("card number"), max_length=30)
    first_name = models.CharField(_("first name"), max_length=150)
    last_name = models.CharField(_("last name"), max_length=150)
    email = models.EmailField(_("email"), blank=True)
    # The address the mail server refused as unknown ("550 5.1.1"): while it is still
    # ``email`` (in any capitals), emails to it fail at once and the patron is said not to
    # be told (notices.outbox.address_refused). Kept, not a flag, so that an address
    # corrected anywhere (admin, account page, import) is written to again with no step.
    email_refused = models.CharField(
        _("email address refused"), max_length=254, blank=True, default="", db_default="", editable=False
    )
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    # Digits only, for the phone desk's look-up ("06 12 34 56 78" = "0612345678").
    phone_digits = models.CharField(max_length=40, blank=True, db_index=True, editable=False)
    home_branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, related_name="patrons", verbose_name=_("home library")
    )
    language = models.CharField(_("language"), max_length=5, choices=settings.LANGUAGES, default="fr")
    category = models.CharField(
        _("category"), max_length=10, choices=PatronCategory, default=PatronCategory.ADULT
    )
    guardian = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("guardian"),
    )
    notice_channel = models.CharField(
        _("notices by"), max_length=10, choices=NoticeChannel, default=NoticeChannel.EMAIL
    )
    card_expires = models.DateField(_("card expires"), null=True, blank=True)
    loan_history = models.CharField(
        _("loan history"),
        max_length=10,
        choices=LoanHistory,
        default=LoanHistory.LIBRARY,
        db_default="library",
    )
    blocked_reason = models.CharField(_("blocked because"), max_length=300, blank=True)
    # The library system's own id of the patron (Koha's borrowernumber): it stays when a
    # lost card is replaced, so the import finds the patron by it before the card. Unique
    # when given (Meta.constraints); empty for a patron made here.
    source_id = models.CharField(
        _("id in the library system"), max_length=40, blank=True, default="", db_default=""
    )
    # When an import last wrote this patron. Empty: never (made in the admin, or the
    # demo): ``--expire-missing`` ends only the cards of patrons an import brought.
    imported_at = models.DateTimeField(_("last written by an import"), null=True, blank=True, editable=False)

    objects = PatronQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name"]
        verbose_name = _("patron")
        verbose_name_plural = _("patrons")
        indexes = [
            models.Index(fields=["last_name", "first_name"], name="patron_name"),
            # The admin looks an email up in any capitals (iexact).
            models.Index(Upper("email"), name="patron_email_any_capitals"),
        ]
        constraints = [
            models.UniqueConstraint(
                Upper("card_number"),
                name="patron_card_any_capitals",
                violation_error_message=_("A patron already has this card number (in capitals or not)."),
            ),
            # Also the index the import finds a patron by their id through.
            models.UniqueConstraint(
                fields=["source_id"],
                condition=~models.Q(source_id=""),
                name="patron_source_id_once",
                violation_error_message=_("A patron already has this id in the library system."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} ({self.card_number})"

    def save(self, *args, **kwargs):
        self.phone_digits = "".join(c for c in self.phone if c.isdigit())
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "phone" in update_fields:
            kwargs["update_fields"] = {*update_fields, "phone_digits"}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        # A card's account signs in with a four-digit PIN: a staff account linked to a
        # card would lose its staff screens (patrons.permissions.is_patron_account).
        user = self.user if self.user_id else None
        if user is not None and (user.is_staff or user.is_superuser or user.staff_roles.exists()):
            said = _("This is a staff account: a librarian who borrows has a card account of their own.")
            raise ValidationError({"user": said})
        # A patron in their own care, or in a circle of guardians, would act for and see
        # the requests of the one who is meant to care for them (as the import refuses).
        if (
            self.guardian_id
            and self.pk
            and (self.guardian_id == self.pk or leads_back(self.guardian, self.pk))
        ):
            said = _(
                "A patron cannot be their own guardian, nor in the care of someone in their care (a circle)."
            )
            raise ValidationError({"guardian": said})

    @property
    def reader_language(self) -> str:
        """The language this patron's emails are read in: their own, or their guardian's
        when they have no address of their own (notices.render.recipient writes to the
        guardian then). For text written now and shown in a later email."""
        if not self.email and self.guardian_id:
            return self.guardian.language or settings.LANGUAGE_CODE
        return self.language or settings.LANGUAGE_CODE

    @property
    def telling_channel(self) -> str:
        """The channel this patron's notices go by: their own, where they or their
        guardian have an address for it; else their guardian's (a child left at the
        default, email, whose parent has only a mobile: nobody was told of the bag); else
        email, for one who chose texts and has no mobile left, where they or their guardian
        have an email address (``written_to`` finds whose). Never texts for one who chose
        email: their phone may be a landline."""
        guardian = self.guardian if self.guardian_id else None
        if any(_address(person, self.notice_channel) for person in (self, guardian)):
            return self.notice_channel
        if guardian is not None and _address(guardian, guardian.notice_channel):
            return guardian.notice_channel
        if any(_address(person, NoticeChannel.EMAIL) for person in (self, guardian)):
            return NoticeChannel.EMAIL
        return self.notice_channel

    def written_to(self, channel: str) -> "Patron | None":
        """Who a notice by ``channel`` is written to (``notices.render.recipient``, and the
        phone desk's "will they be told"): the patron, or, when they have no address for it
        (a child, usually), their guardian; None when neither has one. By a channel other
        than their own (their guardian's, ``telling_channel``): the guardian first, not a
        number of the child's (often the family's landline, where a text was marked sent
        and nobody read it); then the patron's own address, should they have chosen that
        channel since; nobody for a child whose guardian is gone meanwhile (staff see it
        fail)."""
        guardian = self.guardian if self.guardian_id else None
        people = (self, guardian)
        if channel != self.notice_channel:
            if guardian is not None:
                people = (guardian, self)
            else:  # an adult has changed channel since; a child's unlinked guardian: nobody
                people = (self,) if self.category != PatronCategory.CHILD else ()
        return next((person for person in people if _address(person, channel)), None)

    def children_by_name(self):
        """The children in this patron's care, by first name."""
        return self.children.order_by("first_name", "pk")

    def household_ids(self) -> list[int]:
        """This patron and the children in their care (``of_household``)."""
        return [self.pk, *Patron.objects.filter(guardian=self).values_list("pk", flat=True)]


# Farther than any family: a longer chain is a circle made before these checks.
MAX_GUARDIANS = 10


def leads_back(guardian: Patron, patron_pk: int) -> bool:
    """Whether ``guardian``'s own guardians, followed up a bounded number of steps,
    reach the patron ``patron_pk``: made their guardian, that patron would be in a circle."""
    above = guardian.guardian
    for _step in range(MAX_GUARDIANS):
        if above is None:
            return False
        if above.pk == patron_pk:
            return True
        above = above.guardian
    return False


def _address(person: "Patron | None", channel: str) -> str:
    """The patron's address for ``channel``: their phone for texts, else their email."""
    if person is None:
        return ""
    return person.phone if channel == "sms" else person.email


def of_household(patron: Patron) -> models.Q:
    """Rows (requests, bags) of ``patron`` or of a child in their care: a guardian sees,
    cancels and collects for the children, as Koha's guarantor does. Anyone else's are
    "not found", never "forbidden": their existence is private. The household's ids are a
    subquery, read at each call (a child who moved to another guardian is no longer
    theirs): an OR across the join to the patrons could use no index, and read the whole
    network's requests at every poll of the app."""
    household = Patron.objects.filter(models.Q(pk=patron.pk) | models.Q(guardian=patron)).values("pk")
    return models.Q(patron__in=household)


class Role(models.TextChoices):
    PHONE_DESK = "phone_desk", _("Phone desk")
    PICKER = "picker", _("Picker")
    DOOR_DESK = "door_desk", _("Door desk")
    BRANCH_MANAGER = "branch_manager", _("Branch manager")
    NETWORK_ADMIN = "network_admin", _("Network administrator")


class StaffRole(models.Model):
    """A staff user may act in ``role`` at ``branch`` (every branch when empty)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_roles", verbose_name=_("user")
    )
    role = models.CharField(_("role"), max_length=20, choices=Role)
    branch = models.ForeignKey(
        Branch,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="staff_roles",
        verbose_name=_("branch"),
        help_text=_("Empty: every library."),
    )

    class Meta:
        verbose_name = _("staff role")
        verbose_name_plural = _("staff roles")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "role", "branch"],
                name="staff_role_once",
                violation_error_message=_("This user already has this role at this library."),
            ),
            # NULLs never collide in a unique index: a network-wide role needs its own.
            models.UniqueConstraint(
                fields=["user", "role"],
                condition=models.Q(branch__isnull=True),
                name="staff_role_once_network",
                violation_error_message=_("This user already has this role for the whole network."),
            ),
            # A network administrator acts everywhere: one given a library would see the
            # whole staff menu and be refused every page.
            models.CheckConstraint(
                condition=~models.Q(role="network_admin") | models.Q(branch__isnull=True),
                name="network_admin_everywhere",
                violation_error_message=_(
                    "A network administrator acts in every library: leave the library empty, "
                    "or give a library manager's role instead."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.branch or '*'}"

    def clean(self) -> None:
        # A patron's account signs in with a card and a four-digit PIN: never a staff
        # screen's door (patrons.permissions ignores such a role anyway).
        if self.user_id and Patron.objects.filter(user_id=self.user_id).exists():
            raise ValidationError(
                {"user": _("This account is a patron's (card and PIN): give staff roles to a staff account.")}
            )


class SignInFailures(models.Model):
    """Wrong passwords and PINs in a row, and the lock they led to (patrons.throttle)."""

    # What is counted (patrons.throttle): a staff name (lower-cased), with the address it
    # was tried from or not; "!pin <card>", with an address or not; "!cards <address>
    # <quarter of an hour>", "!staff <address> <quarter>"; "!known <browser id>".
    username = models.CharField(_("user name (and address)"), max_length=200, unique=True)
    failures = models.PositiveSmallIntegerField(_("failures in a row"), default=0)
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)
    # Locks in a row of a card from anywhere: each lasts longer (throttle.lock_length).
    locks = models.PositiveSmallIntegerField(_("locks in a row"), default=0, db_default=0)
    updated_at = models.DateTimeField(_("last failure"), auto_now=True)

    class Meta:
        verbose_name = _("sign-in failures")
        verbose_name_plural = _("sign-in failures")

    def __str__(self) -> str:
        return f"{self.username}: {self.failures}"
