"""Driving the dashboards in headless Chromium (Debian's /usr/bin/chromium through Playwright;
never `playwright install`, which downloads a browser): start `streamlit run` on a free port,
sign in, visit pages, wait for each run to finish. Shared by the end-to-end test and
bench/dashboards.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from dashboards.cli import streamlit_command
from ops_store.api.background import free_port, wait_ready

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def streamlit_server(env: dict[str, str], *, timeout: float = 60) -> Iterator[str]:
    """`streamlit run` of the dashboards with ``env``; yields its base URL, stops it afterwards."""
    port = free_port()
    full_env = {**os.environ, **env}
    full_env.pop("ECOM_WAREHOUSE_PATH", None)
    process = subprocess.Popen(streamlit_command(port), env=full_env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, f"{url}/_stcore/health", timeout=timeout)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def chromium() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} is missing: `make install` installs Debian's chromium (see README)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def wait_for_run(page: Page, timeout: float = 30) -> None:
    """Until the app's script run has finished and every chart has drawn."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout * 1000)
    page.wait_for_function(
        "() => [...document.querySelectorAll(\"[data-testid='stVegaLiteChart']\")]"
        ".filter(c => c.offsetParent !== null)"  # charts in a hidden tab draw when shown
        ".every(c => c.querySelector('canvas, svg'))", timeout=timeout * 1000)


def sign_in(page: Page, url: str, username: str, password: str) -> float:
    """Sign in; seconds from the click until the first page (the Overview) has drawn."""
    page.goto(url)
    page.wait_for_selector("input[type='password']", timeout=30_000)
    page.get_by_role("textbox", name="User name").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    began = time.perf_counter()
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("[data-testid='stSidebarNav']", timeout=30_000)
    wait_for_run(page)
    return time.perf_counter() - began


def open_page(page: Page, title: str, slug: str) -> float:
    """Click a page in the sidebar; seconds until its run finished and its charts drew."""
    began = time.perf_counter()
    page.locator("[data-testid='stSidebarNav'] a").filter(has_text=title).first.click()
    # the first page of the navigation is served at the root
    page.wait_for_url(lambda url: urlparse(url).path.strip("/") in (slug, ""), timeout=30_000)
    try:  # the run starts a moment after the route changes; a cached page may finish before we look
        page.wait_for_selector("[data-testid='stApp'][data-test-script-state='running']", timeout=300)
    except PlaywrightTimeout:
        pass
    wait_for_run(page)
    return time.perf_counter() - began


def screenshot(page: Page, path: Path) -> None:
    """The whole page: Streamlit scrolls inside its main block, so the window is first made as
    tall as that block's content (a plain full-page shot would stop at the window's edge)."""
    height = page.evaluate("() => document.querySelector(\"[data-testid='stMain']\").scrollHeight")
    size = page.viewport_size or {"width": 1440, "height": 1000}
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], int(height) + 40)})
    page.wait_for_timeout(300)  # charts re-lay out to the new size
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)


def artifacts_dir(kind: str = "screenshots") -> Path:
    """Where tests write screenshots and sample reports (git-ignored data folder unless
    ECOM_TEST_ARTIFACTS says)."""
    default = Path(__file__).resolve().parents[1] / "data" / "test-artifacts"
    folder = Path(os.environ.get("ECOM_TEST_ARTIFACTS", default)) / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder
