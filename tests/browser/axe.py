"""axe-core (vendored under tests/vendor, MPL-2.0) run inside the page: serious and critical violations.

The script is injected through Playwright's `add_script_tag(content=...)`, which
the app's Content-Security-Policy cannot see as an inline script of ours; run it
after the page has settled.
"""

from __future__ import annotations

from pathlib import Path

AXE_JS = Path(__file__).resolve().parent.parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
BLOCKING = ("serious", "critical")


def axe_violations(page, impacts: tuple[str, ...] = BLOCKING) -> list[dict]:
    """The axe-core violations of the current page with one of `impacts` (id, impact, targets)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_JS.read_text(encoding="utf-8") + "\n;void 0;")
    result = page.evaluate(
        "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " targets: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})); }")
    return [v for v in result if v["impact"] in impacts]


def assert_no_serious_axe(page, where: str = "") -> None:
    """Fail with the list when axe finds a serious or critical violation on the page."""
    found = axe_violations(page)
    assert found == [], (where or page.url, found)
