"""Demo coupons: an Active single code WELCOME100 and an Active bulk series DIWALI of 10,000 codes."""

from coupons import services
from coupons.models import Coupon

DIWALI_CODES = 10_000


def load(stdout) -> None:
    welcome = Coupon.objects.filter(kind=Coupon.Kind.SINGLE, code="WELCOME100").first()
    if welcome is None:
        welcome = services.coupon_create(
            data={
                "kind": Coupon.Kind.SINGLE,
                "name": "Welcome 100",
                "code": "WELCOME100",
                "description": "₹100 off your first order.",
                "terms": "Minimum order ₹499. One use per customer.",
                "discount_label": "₹100 off",
                "per_user_limit": 1,
                "expiry_after_value": 30,
                "expiry_after_unit": Coupon.ExpiryUnit.DAYS,
            },
            actor=None,
        )
    if welcome.status == Coupon.Status.DRAFT:
        services.coupon_transition(coupon=welcome, action="activate", actor=None)

    diwali = Coupon.objects.filter(kind=Coupon.Kind.BULK, name="DIWALI").first()
    if diwali is None:
        diwali = services.coupon_create(
            data={
                "kind": Coupon.Kind.BULK,
                "name": "DIWALI",
                "description": "Festive offer: one unique code per customer.",
                "terms": "Valid on orders above ₹999.",
                "discount_label": "20% off, max ₹200",
                "expiry_after_value": 14,
                "expiry_after_unit": Coupon.ExpiryUnit.DAYS,
                "low_stock_threshold": 1000,
            },
            actor=None,
        )
    missing = DIWALI_CODES - diwali.codes.count()
    if missing > 0:
        # The same service the screen uses, run inline instead of in the background.
        services.code_generation_start(
            coupon=diwali,
            code_format="alphanumeric",
            length=8,
            prefix="DIWALI-",
            suffix="",
            count=missing,
            actor=None,
            run_now=True,
        )
    diwali.refresh_from_db()
    if diwali.status == Coupon.Status.DRAFT:
        services.coupon_transition(coupon=diwali, action="activate", actor=None)
    stdout.write(f"Coupons: WELCOME100 (single code) and DIWALI ({diwali.codes_total:,} codes).\n")
