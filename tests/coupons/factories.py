import factory

from coupons.models import Coupon


class CouponFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Coupon

    name = factory.Sequence(lambda n: f"Coupon {n}")
    kind = Coupon.Kind.SINGLE
    code = factory.Sequence(lambda n: f"SAVE{n:03d}")
    status = Coupon.Status.ACTIVE


class BulkCouponFactory(CouponFactory):
    kind = Coupon.Kind.BULK
    code = ""
