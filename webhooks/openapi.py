"""The webhook payloads, documented in the API description's OpenAPI 3.1 `webhooks` section (issue #20).

Every POST carries `webhook-id`, `webhook-timestamp` and `webhook-signature` (Standard Webhooks);
the body is one event `{"type", "timestamp", "data"}`, or with batching a JSON array of events
each with its own `id`.
"""

S, N, INT, B = {"type": "string"}, {"type": "number"}, {"type": "integer"}, {"type": "boolean"}
T = {"type": "string", "format": "date-time"}
NS, NT, NI = (
    {"type": ["string", "null"]},
    {"type": ["string", "null"], "format": "date-time"},
    {"type": ["integer", "null"]},
)
NN = {"type": ["number", "null"]}

EVENTS = {
    "reward.granted": (
        "A profile was rewarded by a campaign (one event per reward; a run sends one per profile).",
        {
            "campaignId": INT,
            "campaignName": S,
            "identity": S,
            "occurrence": S,
            "rewardType": S,
            "points": NN,
            "code": NS,
            "activatesAt": NT,
            "expiresAt": NT,
            "grantedAt": T,
        },
        {
            "campaignId": 42,
            "campaignName": "Diwali bonus",
            "identity": "user-1001",
            "occurrence": "run:7",
            "rewardType": "points",
            "points": 100,
            "code": None,
            "activatesAt": "2026-12-02T10:00:00+00:00",
            "expiresAt": "2027-03-02T10:00:00+00:00",
            "grantedAt": "2026-12-02T10:00:00.123+00:00",
        },
    ),
    "wallet.transaction": (
        "A wallet ledger movement: CREDIT, SCHEDULED (promised), ACTIVATED, DEBIT or EXPIRED, with its source "
        "(CAMPAIGN, API, MANUAL, SYSTEM).",
        {
            "transactionId": INT,
            "walletId": INT,
            "identity": S,
            "type": S,
            "source": S,
            "points": N,
            "description": S,
            "campaignId": NI,
            "occurrence": NS,
            "orderId": NS,
            "createdAt": T,
        },
        {
            "transactionId": 90211,
            "walletId": 1,
            "identity": "user-1001",
            "type": "CREDIT",
            "source": "CAMPAIGN",
            "points": 100,
            "description": "Diwali bonus",
            "campaignId": 42,
            "occurrence": "run:7",
            "orderId": None,
            "createdAt": "2026-12-02T10:00:00.123+00:00",
        },
    ),
    "coupon.redeemed": (
        "A coupon code was redeemed.",
        {"couponId": INT, "couponName": S, "identity": S, "code": S, "at": T, "redeemCount": INT},
        {
            "couponId": 3,
            "couponName": "Summer 20",
            "identity": "user-1001",
            "code": "SUM-7HQ2K",
            "at": "2026-12-02T11:00:00+00:00",
            "redeemCount": 1,
        },
    ),
    "coupon.reverted": (
        "A redemption was reverted (the code can be redeemed again).",
        {"couponId": INT, "couponName": S, "identity": S, "code": S, "at": T, "redeemCount": INT},
        {
            "couponId": 3,
            "couponName": "Summer 20",
            "identity": "user-1001",
            "code": "SUM-7HQ2K",
            "at": "2026-12-02T11:05:00+00:00",
            "redeemCount": 0,
        },
    ),
    "campaign.status_changed": (
        "A campaign changed status (by a person, the API or the system); `reason` says why it ended.",
        {"campaignId": INT, "campaignName": S, "from": S, "to": S, "reason": NS, "changedAt": T},
        {
            "campaignId": 42,
            "campaignName": "Diwali bonus",
            "from": "running",
            "to": "completed",
            "reason": "Distribution finished",
            "changedAt": "2026-12-02T10:20:00+00:00",
        },
    ),
    "inventory.low": (
        "A bulk coupon series or a voucher list fell to its low-stock threshold, or ran out (`exhausted`).",
        {
            "kind": {"type": "string", "enum": ["coupon_series", "voucher_list"]},
            "couponId": INT,
            "voucherListId": INT,
            "name": S,
            "partner": S,
            "tag": S,
            "codesLeft": INT,
            "threshold": NI,
            "exhausted": B,
        },
        {
            "kind": "voucher_list",
            "voucherListId": 5,
            "partner": "ShopCo",
            "tag": "gold",
            "codesLeft": 99,
            "threshold": 100,
            "exhausted": False,
        },
    ),
    "budget.threshold": (
        "A campaign used 80 % or 100 % of its points budget.",
        {
            "campaignId": INT,
            "campaignName": S,
            "threshold": {"type": "integer", "enum": [80, 100]},
            "budget": N,
            "used": N,
        },
        {"campaignId": 42, "campaignName": "Diwali bonus", "threshold": 80, "budget": 500000, "used": 400100},
    ),
    "points.expiring": (
        "Daily digest, per profile and wallet, of active points expiring within the wallet's notice period.",
        {
            "walletId": INT,
            "walletName": S,
            "pointsName": S,
            "identity": S,
            "points": N,
            "firstExpiresAt": T,
            "noticeDays": INT,
            "lots": {"type": "array", "items": {"type": "object", "properties": {"points": N, "expiresAt": T}}},
        },
        {
            "walletId": 1,
            "walletName": "Supercoins",
            "pointsName": "Supercoins",
            "identity": "user-1001",
            "points": 150,
            "firstExpiresAt": "2026-12-05T18:29:59+00:00",
            "noticeDays": 7,
            "lots": [
                {"points": 100, "expiresAt": "2026-12-05T18:29:59+00:00"},
                {"points": 50, "expiresAt": "2026-12-08T18:29:59+00:00"},
            ],
        },
    ),
}

HEADERS = [
    {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "schema": S,
        "description": (
            "The event's id (`msg_<n>`; `batch_…` for a batch): the same on every retry, so de-duplicate by it."
        ),
    },
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": True,
        "schema": S,
        "description": "Unix seconds when this attempt was signed; reject ones more than 5 minutes off.",
    },
    {
        "name": "webhook-signature",
        "in": "header",
        "required": True,
        "schema": S,
        "description": "Space-separated `v1,<base64 HMAC-SHA256>` of `id.timestamp.body` with the endpoint's secret; "
        "two during the 24 h after a secret rotation (either verifies).",
    },
]

DELIVERY = (
    "\n\nDelivered at least once: a 2xx answer within 10 s is success; anything else is retried with exponential "
    "backoff and jitter for about a day. With batching on, the body is a JSON array of events, each with its `id`."
)


def webhooks_section() -> dict:
    """The OpenAPI 3.1 `webhooks` map: one POST per event type, with its schema and an example."""
    section = {}
    for name, (summary, properties, example) in EVENTS.items():
        schema = {
            "type": "object",
            "required": ["type", "timestamp", "data"],
            "properties": {
                "type": {"type": "string", "const": name},
                "timestamp": T,
                "data": {"type": "object", "properties": properties},
            },
        }
        body = {"type": name, "timestamp": "2026-12-02T10:00:00.456+00:00", "data": example}
        section[name] = {
            "post": {
                "summary": name,
                "description": summary + DELIVERY,
                "parameters": HEADERS,
                "requestBody": {"content": {"application/json": {"schema": schema, "example": body}}},
                "responses": {"2XX": {"description": "Received; not sent again."}},
            }
        }
    return section
