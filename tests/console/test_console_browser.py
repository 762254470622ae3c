"""The console in a real browser (issue #7): Playwright drives headless Chromium (Debian's ``chromium``, launched by
path, never downloaded) against the app served by uvicorn on a free port.

Skipped when Chromium or Playwright is missing, unless ``SEGUR_SANDBOX_REQUIRE_BROWSER=1`` (CI sets it: there the
tests must run). The client actions go over real HTTP to the live server, as a vendor's software would.
"""
from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from segur_sandbox.simulator.console.demo import WORKSPACE, Demo, LiveServer, chromium_path, launch_chromium
from segur_sandbox.simulator.dmp.messages import demographics_request
from segur_sandbox.simulator.testing import DmpTestClient

WS = f"/ui/w/{WORKSPACE}"
TIMEOUT_MS = 10_000


def _unavailable(reason: str) -> None:
    if os.environ.get("SEGUR_SANDBOX_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests required (SEGUR_SANDBOX_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(f"{reason}; set SEGUR_SANDBOX_REQUIRE_BROWSER=1 to make this a failure")


@pytest.fixture(scope="module")
def playwright_api():
    if not Path(chromium_path()).exists():
        _unavailable(f"no Chromium at {chromium_path()} (apt-get install chromium)")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        yield playwright, expect


@pytest.fixture(scope="module")
def browser(playwright_api):
    playwright, _ = playwright_api
    launched = launch_chromium(playwright)
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def expect(playwright_api):
    return playwright_api[1]


@pytest.fixture(scope="module")
def live(tmp_path_factory, sandbox_pki):
    demo = Demo.build(tmp_path_factory.mktemp("console-browser"), pki=sandbox_pki)
    with LiveServer(demo.app) as server:
        yield demo, server
    demo.close()


@pytest.fixture
def page(browser, live):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    yield opened
    context.close()


@pytest.fixture
def http(live):
    _, server = live
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def latest_id(demo: Demo) -> int:
    with demo.runtime.store.transaction(readonly=True) as tx:
        return tx.exchanges.latest_id(WORKSPACE) or 0


def test_open_a_patient_with_the_keyboard(page, live, expect):
    demo, server = live
    page.goto(server.url + f"{WS}/patients")
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()  # the first stop: "Aller au contenu"
    link = page.get_by_role("link", name=demo.patient.ins)
    link.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(server.url + f"{WS}/patients/{demo.patient.ins}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("DMP ouvert")
    expect(page.locator("#h-identity")).to_be_visible()
    expect(page.get_by_text("INS-NIR de test")).to_be_visible()
    expect(page.locator("#h-auth")).to_be_visible()


def test_open_a_document_and_see_its_rendering(page, live, expect):
    demo, server = live
    page.goto(server.url + f"{WS}/patients/{demo.patient.ins}")
    page.locator(f'a[href$="/documents/{demo.documents["VAC-NOTE"]}"]').click()
    rendering = page.locator("#cda-rendering")
    expect(rendering).to_contain_text("Corps structuré (N3)")
    expect(rendering.locator(".cda-section h4").first).to_contain_text("Note de vaccination")
    expect(rendering.locator(".narrative table tbody tr").first).to_contain_text("VACCIN")
    expect(rendering.locator(".entry").first).to_contain_text("N° de lot")

    page.goto(server.url + f"{WS}/documents/{demo.documents['CR-BIO']}")
    pdf = page.locator("object.pdf")
    expect(pdf).to_be_visible()
    expect(pdf).to_have_attribute("type", "application/pdf")
    fetched = page.request.get(server.url + pdf.get_attribute("data"))
    assert fetched.ok and fetched.headers["content-type"] == "application/pdf"
    assert fetched.body().startswith(b"%PDF")


def test_a_client_exchange_appears_live_with_its_findings(page, live, http, expect):
    demo, server = live
    page.goto(server.url + f"{WS}/exchanges")
    expect(page.locator(".live-toggle")).to_have_attribute("aria-pressed", "true")
    sloppy = DmpTestClient(http, demo.runtime.pki, demo.professional, demo.structure,
                           vihf_options={"omit": ("LPS_Version",)})  # a VIHF without a mandatory attribute
    reply = sloppy.call("patients", demographics_request(demo.patient), patient=demo.patient)
    assert reply.status == 500 and reply.fault is not None
    row = page.locator(f'tr[data-id="{latest_id(demo)}"]')
    expect(row).to_be_visible()  # no reload: the page polled it in
    expect(row).to_contain_text("TD0.2")
    expect(row).to_contain_text("VIHF-006")
    expect(row).to_contain_text("Non conforme")
    expect(page.locator(".live-msg")).to_contain_text("nouvel échange")

    row.get_by_role("link").first.click()
    finding = page.locator("tr.finding", has_text="VIHF-006")
    expect(finding).to_contain_text("SC.DMP/CONF.12")  # the requirement reference
    finding.locator("a.locate").click()
    expect(page.locator("mark.x-mark").first).to_be_focused()  # the place in the message, highlighted
    expect(page.locator("table.vihf")).to_contain_text("Cabinet individuel")


def test_toggle_a_fault_and_the_next_exchange_fails(page, live, http, expect):
    demo, server = live
    try:
        page.goto(server.url + f"{WS}/controls")
        toggle = page.locator('button[data-preset="http_503"]')
        expect(toggle).to_have_attribute("aria-checked", "false")
        toggle.click()
        expect(page.locator('button[data-preset="http_503"]')).to_have_attribute("aria-checked", "true")

        page.goto(server.url + f"{WS}/exchanges")
        reply = demo.client(http).call("patients", demographics_request(demo.patient), patient=demo.patient)
        assert reply.status == 503
        row = page.locator(f'tr[data-id="{latest_id(demo)}"]')
        expect(row).to_contain_text("503")
        expect(row).to_contain_text("SANDBOX-FAULT")

        page.goto(server.url + f"{WS}/controls")
        page.locator('button[data-preset="http_503"]').click()  # off again: the next call passes
        expect(page.locator('button[data-preset="http_503"]')).to_have_attribute("aria-checked", "false")
        assert demo.client(http).call("patients", demographics_request(demo.patient),
                                      patient=demo.patient).status == 200
    finally:
        with demo.runtime.store.transaction() as tx:
            tx.controls.clear_faults(WORKSPACE)
