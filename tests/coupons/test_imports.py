import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from coupons import imports, services
from coupons.models import CodeBatch, CouponCode
from tests.coupons.factories import BulkCouponFactory, CouponFactory

pytestmark = pytest.mark.django_db


def _upload(content: bytes, name="codes.csv"):
    return SimpleUploadedFile(name, content, content_type="text/csv")


def _import(coupon, content: bytes):
    return services.code_import(coupon=coupon, upload=_upload(content), actor=None)


def _refusal(coupon, content: bytes) -> list[str]:
    with pytest.raises(ValidationError) as exc:
        _import(coupon, content)
    assert not CouponCode.objects.filter(coupon=coupon).exists()
    assert not CodeBatch.objects.filter(coupon=coupon).exists()
    return exc.value.messages


@pytest.mark.parametrize(
    "content",
    [b"code\nAAA1\nBBB2\n", b"AAA1\r\nBBB2\r\n", b"\xef\xbb\xbfCode\nAAA1\n\nBBB2", b"AAA1,\nBBB2,\n"],
)
def test_import_reads_one_column_with_an_optional_header(content):
    coupon = BulkCouponFactory()
    batch = _import(coupon, content)
    assert sorted(CouponCode.objects.filter(coupon=coupon).values_list("code", flat=True)) == ["AAA1", "BBB2"]
    assert (batch.source, batch.status, batch.done, batch.file_name) == ("imported", "completed", 2, "codes.csv")
    coupon.refresh_from_db()
    assert coupon.codes_total == 2


def test_a_top_up_adds_to_the_series():
    coupon = BulkCouponFactory()
    _import(coupon, b"A1\nA2\n")
    _import(coupon, b"A3\n")
    coupon.refresh_from_db()
    assert coupon.codes_total == 3


@pytest.mark.parametrize(
    ("content", "messages"),
    [
        (b"", ["The file is empty: add one code per line."]),
        (b"code\n", ["The file has no codes, only a header."]),
        (b"A1\n\xff\xfeB2\n", ["The file is not UTF-8 text (line 2); save it as CSV UTF-8 and try again."]),
        (b"A1\nB2,extra\n", ["Line 2: found 2 columns; the file must have one column, the code."]),
        (b"A1\nB 2\n", ["Line 2: “B 2” is not a valid code (1–64 characters, no spaces)."]),
        (b"A1\nB2\nA1\n", ["Line 3: code “A1” repeats line 1."]),
    ],
)
def test_bad_files_are_refused_with_the_line_and_store_nothing(content, messages):
    assert _refusal(BulkCouponFactory(), content) == messages


def test_codes_already_in_the_series_refuse_the_file():
    coupon = BulkCouponFactory()
    _import(coupon, b"A1\n")
    with pytest.raises(ValidationError) as exc:
        _import(coupon, b"Z9\nA1\n")
    assert exc.value.messages == ["Line 2: code “A1” is already in this series."]
    assert CouponCode.objects.filter(coupon=coupon).count() == 1


def test_many_problems_are_listed_up_to_ten():
    content = b"".join(b"bad code %d\n" % i for i in range(15))
    messages = _refusal(BulkCouponFactory(), content)
    assert len(messages) == 11 and messages[-1] == "…and 5 more problems."


class _HugeUpload:
    name = "huge.csv"
    size = 60 * 1024 * 1024

    def seek(self, offset):
        pass

    def read(self, *args):
        pytest.fail("the file was read")


def test_a_file_over_the_size_limit_is_refused_before_reading():
    coupon = BulkCouponFactory()
    with pytest.raises(ValidationError) as exc:
        services.code_import(coupon=coupon, upload=_HugeUpload(), actor=None)
    assert exc.value.messages == ["The file is 60.0 MB; the limit is 50 MB."]
    assert not CouponCode.objects.filter(coupon=coupon).exists()


def test_a_file_with_more_codes_than_allowed_is_refused(monkeypatch):
    monkeypatch.setattr(imports, "MAX_CODES", 3)
    assert _refusal(BulkCouponFactory(), b"A1\nA2\nA3\nA4\n") == [
        "The file has more than 1,000,000 codes; split it into several imports."
    ]


def test_import_is_refused_for_single_code_coupons():
    with pytest.raises(ValidationError, match="only be added to a bulk code series"):
        _import(CouponFactory(), b"A1\n")
