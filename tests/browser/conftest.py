"""Headless Chromium (Debian's, driven by Playwright) against Django's live server."""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


# Module scope: Playwright's sync API keeps an event loop running while it is open,
# and other test modules that drive a browser start their own.
@pytest.fixture(scope="module")
def chromium():
    if not shutil.which(CHROMIUM):
        # CI installs it (.ci/run); a developer without it is told, loudly.
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests
    # make between page actions are plain synchronous code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def refused_by_the_policy(page) -> list[str]:
    """What the Content-Security-Policy refused on ``page`` (Chromium says it in the
    console): every journey doubles as a check that nothing the pages need is blocked."""
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    return refused


@pytest.fixture
def phone(chromium):
    """A 360 px wide phone-sized page, in French."""
    context = chromium.new_context(viewport={"width": 360, "height": 740}, locale="fr-FR")
    page = context.new_page()
    refused = refused_by_the_policy(page)
    yield page
    context.close()
    assert refused == []


@pytest.fixture
def desktop(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    page = context.new_page()
    refused = refused_by_the_policy(page)
    yield page
    context.close()
    assert refused == []


class Shots:
    """Numbered screenshots of a journey under test-output/<name>/."""

    def __init__(self, name: str):
        self.folder = OUTPUT / name
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.count = 0

    def __call__(self, page, step: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path
