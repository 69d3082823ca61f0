"""The load generator of upload_bench, run in its own processes (no Django here: plain http.client)."""

import base64
import http.client
import json
import random
import time

EVENT_NAMES = ["Product Viewed", "Added To Cart", "Charged"]


def batch_body(rng: random.Random, *, profiles: int, trigger_share: float, size: int = 1000) -> bytes:
    """One 1000-record batch: events of existing profiles, `trigger_share` of them live triggers."""
    now = int(time.time())
    records = []
    for _ in range(size):
        identity = f"gen-{rng.randrange(profiles):07d}"
        if rng.random() < trigger_share:
            name, data = f"Bench Trigger {rng.randrange(10)}", {"Amount": rng.randint(1, 500)}
        else:
            name = rng.choice(EVENT_NAMES)
            data = {"Amount": rng.randint(50, 5000)} if name == "Charged" else {"Product ID": f"p{rng.randint(1, 200)}"}
        records.append({"type": "event", "identity": identity, "ts": now, "evtName": name, "evtData": data})
    return json.dumps({"d": records}).encode()


def auth_header(key_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key_id}:{secret}".encode()).decode()


def post(conn: http.client.HTTPConnection, body: bytes, auth: str) -> dict:
    conn.request(
        "POST", "/api/1/upload", body=body, headers={"Authorization": auth, "Content-Type": "application/json"}
    )
    response = conn.getresponse()
    payload = response.read()
    if response.status != 200:
        raise RuntimeError(f"upload answered {response.status}: {payload[:300]!r}")
    return json.loads(payload)


def drive(args) -> tuple[int, int, float]:
    """Post batches until `seconds` have passed, as fast as possible or `per_second` batches a
    second (paced: each batch has its start time); (events accepted, batches, busy seconds)."""
    port, key_id, secret, profiles, seconds, seed, trigger_share, *rest = args
    per_second = rest[0] if rest else 0
    rng = random.Random(seed)
    bodies = [batch_body(rng, profiles=profiles, trigger_share=trigger_share) for _ in range(8)]
    auth = auth_header(key_id, secret)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    accepted = batches = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        if per_second:
            due = started + batches / per_second
            time.sleep(max(0.0, due - time.perf_counter()))
        result = post(conn, bodies[batches % len(bodies)], auth)
        accepted += result["processed"]
        batches += 1
    conn.close()
    return accepted, batches, time.perf_counter() - started
