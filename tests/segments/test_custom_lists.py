import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from core.csv_safety import csv_safe
from segments import services
from segments.models import CustomList, CustomListMember, CustomListUpload
from tests.segments.factories import ProfileFactory

pytestmark = pytest.mark.django_db


def upload(content: bytes, **kwargs):
    return services.custom_list_upload_start(
        uploaded_file=SimpleUploadedFile("list.csv", content, content_type="text/csv"), actor=None, **kwargs
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", services.ERR_CSV_EMPTY),
        (b"Name,Email\nx,y\n", services.ERR_CSV_HEADER.format(found="Name,Email")),
        (b"Type,Identity\n\xff\xfei,u1\n", services.ERR_CSV_NOT_UTF8),
        (b"Type,Identity\n", services.ERR_CSV_NO_ROWS),
    ],
)
def test_a_bad_csv_gives_a_clear_message_and_changes_nothing(content, message):
    with pytest.raises(ValidationError) as exc:
        upload(content, name="L")
    assert exc.value.message_dict["file"] == [message]
    assert not CustomList.objects.exists()
    assert not CustomListUpload.objects.exists()


def test_a_file_over_50_mb_is_refused_before_reading():
    class Big:
        name = "big.csv"
        size = services.MAX_CSV_BYTES + 1

        def read(self, *args):
            pytest.fail("read before the size check")

        seek = read

    big = Big()
    with pytest.raises(ValidationError) as exc:
        services.custom_list_upload_start(uploaded_file=big, actor=None, name="L")
    assert exc.value.message_dict["file"] == [services.ERR_CSV_TOO_LARGE]


def test_processing_counts_matched_unknown_duplicate_invalid_and_never_creates_profiles(
    django_capture_on_commit_callbacks, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    ProfileFactory(identity="u1")
    ProfileFactory(identity="u2")
    with django_capture_on_commit_callbacks(execute=False):
        started = upload(b"Type,Identity\ni,u1\ni,u2\ni,u1\ni,=ghost\ng,abc\n", name="VIP")
    done = services.custom_list_process(upload_id=started.pk)
    assert done.status == CustomListUpload.Status.COMPLETED
    assert (done.matched, done.unknown, done.duplicate, done.invalid) == (2, 1, 1, 1)
    assert CustomListMember.objects.filter(custom_list=done.custom_list).count() == 2
    assert done.custom_list.__class__.objects.get(pk=done.custom_list_id).size == 2
    assert "'=ghost" in done.error_rows
    from segments.models import Profile

    assert Profile.objects.count() == 2


def test_custom_list_in_use_is_false_while_campaigns_cannot_target_lists():
    assert services.custom_list_in_use(custom_list=CustomList.objects.create(name="L")) is False


def test_csv_safe_neutralises_formulas():
    assert [csv_safe(v) for v in ["=1", "+1", "-1", "@x", "\tx", "ok"]] == [
        "'=1",
        "'+1",
        "'-1",
        "'@x",
        "'\tx",
        "ok",
    ]


def test_upload_screen_creates_a_list_and_shows_history(
    marketer_client, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path
    ProfileFactory(identity="u1")
    with django_capture_on_commit_callbacks(execute=False):
        response = marketer_client.post(
            "/audience/lists/", {"name": "VIP", "file": SimpleUploadedFile("l.csv", b"Type,Identity\ni,u1\ni,nobody\n")}
        )
    custom_list = CustomList.objects.get(name="VIP")
    assert response.status_code == 302
    services.custom_list_process(upload_id=custom_list.uploads.get().pk)
    page = marketer_client.get(custom_list.get_absolute_url(), HTTP_HX_REQUEST="true").content.decode()
    assert 'id="upload-history"' in page and "<html" not in page
    upload = custom_list.uploads.get()
    csv_text = marketer_client.get(f"/audience/lists/{custom_list.pk}/uploads/{upload.pk}/errors.csv").content.decode()
    assert "nobody" in csv_text


def test_upload_screen_shows_a_bad_csv_message_and_creates_nothing(marketer_client):
    response = marketer_client.post(
        "/audience/lists/", {"name": "VIP", "file": SimpleUploadedFile("l.csv", b"Name\nx\n")}
    )
    assert response.status_code == 422
    assert services.ERR_CSV_HEADER.format(found="Name").replace('"', "&quot;") in response.content.decode()
    assert 'id="id_name" maxlength="200" value="VIP"' in response.content.decode()  # the name typed stays
    assert not CustomList.objects.exists()
