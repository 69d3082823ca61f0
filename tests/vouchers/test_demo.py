import io

import pytest

from vouchers import demo
from vouchers.models import Partner, VoucherCode, VoucherList, VoucherUpload

pytestmark = pytest.mark.django_db


def test_setup_demo_vouchers_creates_the_shopco_list_of_5000_codes_once(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    out = io.StringIO()
    demo.load(out)
    demo.load(out)
    voucher_list = VoucherList.objects.get(partner__name=demo.DEMO_PARTNER_NAME, tag=demo.DEMO_TAG)
    assert voucher_list.status == VoucherList.Status.ACTIVE
    assert (voucher_list.codes_total, voucher_list.codes_assigned) == (5_000, 0)
    assert VoucherCode.objects.filter(voucher_list=voucher_list).count() == 5_000
    assert VoucherCode.objects.filter(voucher_list=voucher_list, code="SHOPCO-005000").exists()
    assert list(VoucherUpload.objects.values_list("status", "codes_accepted")) == [("completed", 5_000)]
    assert Partner.objects.filter(name=demo.DEMO_PARTNER_NAME).count() == 1
    assert out.getvalue().count("Voucher list ShopCo / welcome-500 ready.") == 2
