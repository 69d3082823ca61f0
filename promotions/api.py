"""Campaigns by API (SPEC 7)."""

from ninja import Router

router = Router(tags=["Campaigns"])
