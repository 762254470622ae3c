"""Screenshots of the console's main pages, for the README:

    python -m segur_sandbox.simulator.console.screenshots [OUT_DIR]     # default: docs/console

Builds the demo sandbox in a temporary folder (nothing of yours is touched), serves it on a free local port and
drives headless Chromium (Debian's ``chromium``, launched by path: ``SEGUR_SANDBOX_CHROMIUM`` to use another) with
Playwright, from the ``test`` extra. 1280×800, one PNG per page.
"""
from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..store.conformance_runs import ConformanceRun
from .demo import WORKSPACE, Demo, LiveServer, launch_chromium

VIEWPORT = {"width": 1280, "height": 800}


def sample_run(demo: Demo) -> ConformanceRun:
    """A run in the runner's report shape, so the conformance pages have something to show."""
    started = datetime.now(UTC) - timedelta(minutes=3)
    sloppy = _latest(demo)  # the demo's last exchange: a VIHF without its LPS_Version nor purpose of use
    checks = [
        {"id": "CONS-01.1", "title": "TD0.2 avant toute consultation", "passed": True, "expected": "TD0.2 d'abord",
         "found": "TD0.2 puis TD3.1", "requirements": ["RG_0310"], "exchanges": [1]},
        {"id": "CONS-01.2", "title": "Le VIHF porte les attributs obligatoires", "passed": False,
         "expected": "aucun constat VIHF", "found": f"VIHF-006 ×2 (échange n° {sloppy})",
         "requirements": ["SC.DMP/CONF.12"], "exchanges": [sloppy]},
    ]
    report = {"plan": "consultation", "cases": [
        {"id": "CONS-01", "plan": "consultation", "title": "Consulter le DMP d'un patient autorisé",
         "requirements": ["RG_0310"], "mandatory": True, "workspace": WORKSPACE, "verdict": "fail", "error": None,
         "duration_s": 2.4, "checks": checks, "steps": []}]}
    evidence = ("<!doctype html><html lang=fr><meta charset=utf-8><title>Dossier de preuves</title>"
                "<body style='font-family:sans-serif'><h1>Dossier de preuves — consultation</h1>"
                "<p>1 cas, 1 échec. Trames, VIHF et constats de chaque échange.</p></body></html>")
    return ConformanceRun(id="demo-consultation-1", plan="consultation", started_at=started,
                          finished_at=started + timedelta(seconds=12), verdict="fail",
                          summary={"cases": 1, "passed": 0, "failed": 1, "errors": 0}, report=report,
                          evidence_html=evidence)


def pages(demo: Demo) -> list[tuple[str, str]]:
    ws = f"/ui/w/{WORKSPACE}"
    return [
        ("workspace", ws),
        ("patient", f"{ws}/patients/{demo.patient.ins}"),
        ("document-n3", f"{ws}/documents/{demo.documents['VAC-NOTE']}#cda-rendering"),
        ("document-n1", f"{ws}/documents/{demo.documents['CR-BIO']}#cda-rendering"),
        ("exchanges", f"{ws}/exchanges"),
        ("exchange", f"{ws}/exchanges/{_latest(demo)}#h-findings"),
        ("controls", f"{ws}/controls"),
        ("conformance-run", "/ui/conformance/demo-consultation-1"),
    ]


def _latest(demo: Demo) -> int:
    with demo.runtime.store.transaction(readonly=True) as tx:
        return tx.exchanges.latest_id(WORKSPACE) or 1


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "docs/console")
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        demo = Demo.build(Path(tmp), sample_exchanges=True)
        with demo.runtime.store.transaction() as tx:
            tx.conformance_runs.add(sample_run(demo))
        try:
            with LiveServer(demo.app) as server, sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
                for name, path in pages(demo):
                    page.goto(server.url + path)
                    page.wait_for_load_state("networkidle")
                    target = out / f"{name}.png"
                    page.screenshot(path=str(target))
                    print(f"{target} ← {path}")
                browser.close()
        finally:
            demo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
