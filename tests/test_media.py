"""Images uploaded in the admin (covers, selections) are served in the demo."""

import importlib

from django.urls import clear_url_caches

import emporter.urls


def test_an_uploaded_cover_is_served_when_debug_is_on(client, db, settings, tmp_path):
    (tmp_path / "covers").mkdir()
    (tmp_path / "covers" / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    settings.MEDIA_ROOT = tmp_path
    settings.DEBUG = True  # `make run`; production serves /media/ from its web server
    try:
        importlib.reload(emporter.urls)
        clear_url_caches()
        response = client.get("/media/covers/c.png")
        assert response.status_code == 200
        assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    finally:
        settings.DEBUG = False
        importlib.reload(emporter.urls)
        clear_url_caches()
