import pytest


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Uploaded and error files go to a per-test folder, never into var/."""
    settings.MEDIA_ROOT = tmp_path / "media"
