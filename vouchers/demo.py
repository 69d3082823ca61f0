"""Demo data: ShopCo's Active voucher list of 5,000 codes, loaded through the upload service."""

import datetime

from config.demo import DEMO_PARTNER_NAME
from vouchers import selectors, services
from vouchers.models import Partner, VoucherList

DEMO_TAG = "welcome-500"
DEMO_CODES = 5_000


def load(stdout) -> None:
    partner, _ = Partner.objects.get_or_create(name=DEMO_PARTNER_NAME)
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
