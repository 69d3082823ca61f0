"""The campaign screens, one module per concern (promotions/urls.py names them):

- campaigns.py  the list, the campaign page, the status actions and the grants' CSV
- builder.py    the builder: its sections, their saves and re-renders, and Publish
- reports.py    the campaign page's regions: chart, progress, outcome, "why this profile?", forecast

HTMX (README, Development): `request.htmx.target` says which region to re-render, from the
template partial of the same name; invalid input (a form or a filter) answers 422, a refused
action 409; response headers only through `django_htmx.http`.
"""
