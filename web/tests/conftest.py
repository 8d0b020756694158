"""Fixtures of the browser tests: a server and Chromium in a loopback-only namespace.

``daphne_server`` (one per test module) moves the test thread into a network
namespace of its own (see netns.py), starts ``manage.py serve`` there and
yields it; ``browser`` launches Debian's Chromium under Playwright (async
API) in the same namespace; ``open_page`` opens a page in a context of its
own (a separate participant), records its console, and on a failed test
saves a screenshot and the console log of every page under test-artifacts/.
"""
from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from web.tests import netns
from web.tests.chromium import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, INSTRUMENTATION
from web.tests.live_server import LiveServer, ServerBackends


def _missing_requirement() -> str | None:
    reason = netns.unavailable_reason()
    if reason:
        return reason
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing: install Debian's chromium (make chromium, as root)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Playwright is not installed (make install-dev)"
    return None


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    """Settings (environment variables) of the module's server; a test module overrides it to change them."""
    return {}


@pytest.fixture(scope="module")
def daphne_server(tmp_path_factory: pytest.TempPathFactory, server_settings: dict[str, str]) -> Iterator[LiveServer]:
    missing = _missing_requirement()
    if missing:
        # CI must run the browser tests; elsewhere they need root and Chromium.
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run: {missing}")
        pytest.skip(f"browser tests need: {missing}")
    workdir = tmp_path_factory.mktemp("web-server")
    backends = ServerBackends(workdir)
    backends.prepare()
    try:
        with netns.loopback_only_namespace():
            assert netns.interfaces() == ["lo"], netns.interfaces()
            server = LiveServer({**backends.open_inside(), **server_settings}, workdir / "server.log")
            server.start()
            try:
                yield server
            finally:
                server.stop()
    finally:
        backends.close()


@pytest.fixture
async def launch_browser(daphne_server: LiveServer) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """Launches Chromium (with ``CHROMIUM_ARGS`` unless told otherwise); closes it at teardown."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched: list[Any] = []

        async def launch(args: list[str] = CHROMIUM_ARGS) -> Any:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=args, timeout=30_000)
            launched.append(browser)
            return browser

        try:
            yield launch
        finally:
            for browser in launched:
                await browser.close()


@pytest.fixture
async def browser(launch_browser: Callable[..., Awaitable[Any]]) -> Any:
    return await launch_browser()


@dataclass
class OpenedPage:
    name: str
    page: Any
    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)


def _artifact_dir(item: pytest.Item) -> Path:
    return ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)


@pytest.fixture
async def open_page(
    browser: Any, daphne_server: LiveServer, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    opened: list[OpenedPage] = []
    shutil.rmtree(_artifact_dir(request.node), ignore_errors=True)

    async def open_one(
        name: str, *, viewport: dict[str, int] | None = None, microphone: bool = True, in_browser: Any = None
    ) -> Any:
        context = await (in_browser or browser).new_context(
            base_url=daphne_server.url,
            viewport=viewport or {"width": 1100, "height": 760},
            permissions=["microphone"] if microphone else [],
        )
        context.set_default_timeout(15_000)
        await context.add_init_script(INSTRUMENTATION)
        page = await context.new_page()
        record = OpenedPage(name, page)
        page.on("console", lambda message: record.console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: record.page_errors.append(str(error)))

        def check_host(req: Any) -> None:
            host = urlsplit(req.url).hostname
            if req.url.startswith(("http:", "https:", "ws:", "wss:")) and host != "127.0.0.1":
                record.foreign_requests.append(req.url)

        page.on("request", check_host)
        opened.append(record)
        return page

    open_one.opened = opened  # type: ignore[attr-defined]
    yield open_one

    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        folder = _artifact_dir(request.node)
        folder.mkdir(parents=True, exist_ok=True)
        for record in opened:
            try:
                await record.page.screenshot(path=str(folder / f"{record.name}.png"), full_page=True)
            except Exception as exc:  # noqa: BLE001 - a crashed page still gets its log saved
                record.console.append(f"(no screenshot: {exc})")
            lines = record.console + [f"pageerror: {e}" for e in record.page_errors]
            (folder / f"{record.name}.console.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (folder / "server.log").write_text(daphne_server.log_tail(200_000), encoding="utf-8")
    for record in opened:
        await record.page.context.close()
    problems = [f"{r.name}: uncaught {e}" for r in opened for e in r.page_errors]
    problems += [f"{r.name}: requested {u}, which is not this server" for r in opened for u in r.foreign_requests]
    if problems and not (report is not None and report.failed):
        pytest.fail("\n".join(problems))
