from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from emporter.patrons.selectors import current_patron

from .. import selectors
from ..covers import placeholder_svg
from ..kinds import AgeBand

register = template.Library()


@register.simple_tag
def cover(tile):
    """The uploaded cover, else a placeholder drawn from the title (decorative either way:
    the tile shows the title as text)."""
    if tile.cover_url:
        return format_html('<img class="cover" src="{}" alt="" loading="lazy">', tile.cover_url)
    return mark_safe(placeholder_svg(title=tile.record.title, doc_type=tile.record.doc_type))


@register.simple_tag
def selection_cover(selection):
    if selection.image:
        return format_html('<img class="cover" src="{}" alt="" loading="lazy">', selection.image.url)
    return mark_safe(placeholder_svg(title=selection.title, colour=selection.colour))


@register.inclusion_tag("discovery/_more_like_this.html", takes_context=True)
def more_like_this(context, record):
    request = context["request"]
    patron = current_patron(request)
    branch = patron.home_branch if patron else None
    return {
        "tiles": selectors.more_like_this(record, branch=branch),
        "request": request,
        "branch": branch,
        # An inclusion tag's context has no context processors' values: passed on, or
        # every tile would lose its basket button (patrons.context_processors.staff_menu).
        "basket_shown": context.get("basket_shown", True),
        "taking_requests": context.get("taking_requests", True),
    }


@register.inclusion_tag("discovery/_home.html", takes_context=True)
def discovery_home(context):
    request = context["request"]
    patron = current_patron(request)
    branch = patron.home_branch if patron else None
    return {
        "request": request,
        "basket_shown": context.get("basket_shown", True),  # staff ask for no surprise bag
        "taking_requests": context.get("taking_requests", True),
        "bands": AgeBand.choices,
        "selections": selectors.selections_for(branch=branch, home=branch is None)[:6],
    }
