"""Demo data: partner ShopCo, the demo partner user linked to it, and ShopCo's Active voucher list of
5,000 codes, loaded through the upload service."""

import datetime

from django.contrib.auth import get_user_model

from accounts.demo import PARTNER_USERNAME
from vouchers import selectors, services
from vouchers.models import Partner, PartnerUser, VoucherList

DEMO_PARTNER_NAME = "ShopCo"
DEMO_TAG = "welcome-500"
DEMO_CODES = 5_000


def load(stdout) -> None:
    partner, _ = Partner.objects.get_or_create(name=DEMO_PARTNER_NAME)
    partner_user = get_user_model().objects.filter(username=PARTNER_USERNAME).first()  # accounts/demo.py's
    if partner_user is not None:
        PartnerUser.objects.get_or_create(user=partner_user, defaults={"partner": partner})
    voucher_list = VoucherList.objects.filter(partner=partner, tag=DEMO_TAG).first()
    if voucher_list is None:
        voucher_list = services.voucher_list_create(
            partner=partner,
            tag=DEMO_TAG,
            name="₹500 off your next ShopCo order",
            description="Valid on orders above ₹2,000. One voucher per order.",
            expires_on=selectors.account_today() + datetime.timedelta(days=180),
            low_stock_threshold=500,
        )
    if voucher_list.codes_total == 0:
        services.voucher_codes_load(
            voucher_list=voucher_list,
            codes=(f"SHOPCO-{n:06d}" for n in range(1, DEMO_CODES + 1)),
            file_name="shopco-welcome.csv",
        )
    stdout.write(f"Voucher list {DEMO_PARTNER_NAME} / {DEMO_TAG} ready.\n")
