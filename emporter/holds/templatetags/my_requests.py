"""What a record page says of the signed-in patron's own request for it."""

from django import template

from emporter.holds.models import ACTIVE, Request

register = template.Library()


@register.simple_tag(takes_context=True)
def my_request(context, record):
    """The signed-in user's request under way for ``record`` (theirs or a child's in
    their care is not shown: the button stays, for that child), or None."""
    user = context["request"].user
    if not user.is_authenticated:
        return None
    return Request.objects.filter(patron__user=user, record_id=record.pk, status__in=ACTIVE).first()
