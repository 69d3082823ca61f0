"""The promotions app's models, one module per concern; every model is importable from here.

- campaign_parts.py  the configuration by builder section (StartPart, WhoPart, WhatPart, WhenPart)
- campaign.py        Campaign: the parts composed, its status, the builder's progress, the table's constraints
- runs.py            CampaignRun and CampaignRunPartition (one-time and recurring distributions)
- grants.py          Grant, and GrantRollup / GrantReasonCount (kept by database triggers)
- live.py            live matching's state: LiveTrigger, CampaignCounter, ProfileCounter, InactionCheck
- events.py          CampaignEvent, the campaign's history
- reports.py         Forecast and CampaignOutcome

Campaign's eighty columns are split into abstract parts that read as the builder's sections, so a
reader finds a section's fields and choices together, beside the form that edits them; the parts
are abstract, so it is still one table with the same columns and constraints (no migration).
Only `Campaign._meta.fields` lists the parts' fields first (the admin's change form follows it).
"""

from promotions.models.campaign import Campaign
from promotions.models.events import CampaignEvent
from promotions.models.grants import Grant, GrantReasonCount, GrantRollup
from promotions.models.live import CampaignCounter, InactionCheck, LiveTrigger, ProfileCounter
from promotions.models.reports import CampaignOutcome, Forecast
from promotions.models.runs import CampaignRun, CampaignRunPartition

__all__ = [
    "Campaign",
    "CampaignCounter",
    "CampaignEvent",
    "CampaignOutcome",
    "CampaignRun",
    "CampaignRunPartition",
    "Forecast",
    "Grant",
    "GrantReasonCount",
    "GrantRollup",
    "InactionCheck",
    "LiveTrigger",
    "ProfileCounter",
]
