from django.core.files.uploadedfile import SimpleUploadedFile

from vouchers import services


def csv_file(text: str | bytes, name: str = "codes.csv") -> SimpleUploadedFile:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


def load_codes(voucher_list, codes, actor=None):
    """Put codes in a list through the real upload path (validate, confirm, process)."""
    upload = services.voucher_codes_load(voucher_list=voucher_list, codes=codes, actor=actor)
    voucher_list.refresh_from_db()
    return upload
