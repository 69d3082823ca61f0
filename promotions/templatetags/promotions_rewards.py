"""`{% profile_rewards profile as grants %}`: the profile page's Rewards region reads grants through this."""

from django import template

from promotions import selectors

register = template.Library()


@register.simple_tag
def profile_rewards(profile, limit: int = 50):
    return selectors.profile_grants(profile_id=profile.pk, limit=limit)
