"""The discussion page in a real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from fedi_forum.forum.categories import Categories
from tests.conftest import Live
from tests.support.seed import add_replies

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and os.environ.get("FEDI_FORUM_TEST_REQUIRE_BROWSER"):
    raise RuntimeError("chromium is required here (FEDI_FORUM_TEST_REQUIRE_BROWSER is set)")
playwright_api = pytest.importorskip("playwright.async_api", reason="playwright not installed")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="no chromium on this machine (apt-get install chromium)"
    ),
]
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def test_page_renders_with_reply_box_links_and_no_csp_errors(
    live: Live, tmp_path: Path
) -> None:
    d = await live.discussions.create(
        slug="browser", title="Bankjes in het park", body="Waar wilt u een bankje?", lang="nl"
    )
    await add_replies(live.store, d, 3)
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844}, locale="nl-NL")
            # the remote world: avatars on mastodon.example
            icon = (Path(__file__).parents[2] / "fedi_forum/web/static/group-icon.png").read_bytes()
            await page.route(
                "https://mastodon.example/**",
                lambda route: route.fulfill(body=icon, content_type="image/png"),
            )
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            response = await page.goto(f"{live.base_url}/d/browser")
            assert response is not None
            assert response.status == 200
            assert await page.text_content("h1") == "Bankjes in het park"
            assert await page.get_attribute("html", "lang") == "nl"
            handle = page.get_by_label("Adres van deze discussie")
            assert await handle.input_value() == f"@browser@{live.domain}"
            assert await page.locator("ol.messages > li").count() == 3
            assert await page.locator('a[href$="/d/browser/feed.rss"]').count() >= 1
            assert await page.get_by_role("link", name="Een probleem rapporteren?").count() >= 1
            assert await page.get_by_role("link", name="Algemene voorwaarden").count() >= 1
            assert await page.locator("main").count() == 1
            # the stylesheet loaded under the CSP (no inline styles or scripts needed)
            color = await page.eval_on_selector("a", "a => getComputedStyle(a).color")
            assert color == "rgb(11, 83, 148)"
            # nothing overflows a phone screen
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390
            await page.get_by_role("link", name="English").click()
            await page.wait_for_load_state()
            assert await page.text_content("#reply-h") == "Reply to this"
            await page.screenshot(path=str(tmp_path / "discussion.png"), full_page=True)
            assert problems == []
            avatars = await page.eval_on_selector_all(
                "ol.messages img", "imgs => imgs.map(i => i.naturalWidth)"
            )
            assert avatars == [128, 128, 128]
        finally:
            await browser.close()


async def test_a_facilitator_handles_a_report_from_a_phone(live: Live) -> None:
    """390 px wide: log in, follow the overview to the report, read the reported text,
    hide it with a reason, mark the report handled; remove another reply, which asks
    first. No admin page is wider than the phone."""
    d = await live.discussions.create(slug="bankjes", title="Bankjes", body="b", lang="nl")
    await add_replies(live.store, d, 2, content="<p>ongepaste reactie</p>")
    await live.services.staff.create("moderator", "correct horse battery", "moderator")
    await live.client.post(
        "/d/bankjes/m/1/report",
        data={"reason": "respect", "comment": "Dit is kwetsend.", "contact": "a@example.nl"},
    )
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844}, locale="nl-NL")
            await page.route("https://mastodon.example/**", lambda route: route.abort())

            async def fits() -> None:
                assert await page.evaluate("document.documentElement.scrollWidth") <= 390, page.url

            await page.goto(f"{live.base_url}/admin")
            assert page.url.endswith("/admin/login")
            await page.get_by_label("Naam").fill("moderator")
            await page.get_by_label("Wachtwoord").fill("correct horse battery")
            await page.get_by_role("button", name="Inloggen").click()
            await page.wait_for_url(f"{live.base_url}/admin")
            await fits()
            await page.get_by_role("link", name="1 open melding").click()
            await page.wait_for_url(f"{live.base_url}/admin/reports")
            await fits()
            report = page.locator("ol.cards > li").first
            assert "ongepaste reactie" in await report.inner_text()
            assert "Dit is kwetsend." in await report.inner_text()
            await report.get_by_label("Reden").first.select_option("respect")
            await report.get_by_role("button", name="Verbergen").click()
            await page.wait_for_url(f"{live.base_url}/admin/reports")
            await (
                page.locator("ol.cards > li")
                .first.get_by_role("button", name="Afgehandeld")
                .click()
            )
            await page.wait_for_url(f"{live.base_url}/admin/reports")
            assert "Geen open meldingen." in await page.inner_text("main")
            # the other reply: removing asks first
            await page.get_by_role("link", name="Reacties", exact=True).click()
            await page.wait_for_url(f"{live.base_url}/admin/replies")
            await fits()
            await (
                page.locator("#reply-bankjes-2").get_by_role("button", name="Verwijderen…").click()
            )
            assert "Bericht #2 van “bankjes” verwijderen?" in await page.inner_text("h1")
            await fits()
            await page.get_by_role("button", name="Verwijderen", exact=True).click()
            await page.wait_for_url(f"{live.base_url}/admin/replies")
            await page.goto(f"{live.base_url}/d/bankjes")
            assert await page.locator("#m1 .removed").count() == 1
            assert await page.locator("#m2 .removed").count() == 1
        finally:
            await browser.close()


async def test_a_reader_follows_a_long_thread_across_pages_on_a_phone(live: Live) -> None:
    """A 500-message discussion with a long Dutch title: "jump to the newest" leads to
    the last page; there, "in reply to #10" leads to page 1 at message 10; page numbers
    lead anywhere; nothing is wider than the phone, also with a long word."""
    d = await live.discussions.create(
        slug="lang",
        title="Omgevingsvergunningaanvraagbehandelingstermijnoverschrijding in de praktijk",
        body="b",
        lang="nl",
    )
    await add_replies(live.store, d, 60)
    early = f"https://mastodon.example/users/alice/statuses/{d.id}-9"  # seq 10
    await add_replies(live.store, d, 440, start=60, in_reply_to=early)
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844}, locale="nl-NL")
            await page.route("https://mastodon.example/**", lambda route: route.abort())
            await page.goto(f"{live.base_url}/d/lang")
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390
            await page.get_by_role("link", name="Pagina 3", exact=True).first.click()
            await page.wait_for_load_state()
            assert page.url.endswith("/d/lang?after=100")
            assert await page.locator("#m101").is_visible()
            await page.get_by_role("link", name="Naar het nieuwste bericht").click()
            await page.wait_for_load_state()
            assert page.url.endswith("/d/lang?after=450#m500")
            assert await page.locator("#m500").is_visible()
            await page.locator("#m451").get_by_role("link", name="reactie op #10").click()
            await page.wait_for_load_state()
            assert page.url.endswith("/d/lang#m10")
            assert await page.locator("#m10").is_visible()
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390
            # paging is at the top and at the bottom
            assert await page.get_by_role("navigation", name="Pagina's", exact=True).count() == 1
            assert await page.locator("nav.pages").count() == 2
            assert await page.locator('nav.pages [aria-current="page"]').first.inner_text() == "1"
            # a reader whose system is dark gets the dark colours (contrast kept)
            dark = await browser.new_page(
                viewport={"width": 390, "height": 844}, color_scheme="dark"
            )
            await dark.route("https://mastodon.example/**", lambda route: route.abort())
            await dark.goto(f"{live.base_url}/d/lang")
            colours = await dark.evaluate(
                "[getComputedStyle(document.body).backgroundColor,"
                " getComputedStyle(document.querySelector('main a')).color]"
            )
            assert colours == ["rgb(18, 18, 18)", "rgb(138, 180, 248)"]
        finally:
            await browser.close()


PUBLIC_PAGES = [
    "/",
    "/d/speeltuin",
    "/d/speeltuin?after=50",
    "/about",
    "/terms",
    "/modlog",
    "/search?q=speeltuin+reactie&from=2020-01-01",
    "/c/buurt",
    "/c/forum",
    "/d/speeltuin/m/1/report",
    "/d/speeltuin/interact",
    "/admin/login",
]
ADMIN_PAGES = [
    "/admin",
    "/admin/reports",
    "/admin/replies",
    "/admin/replies?state=held",
    "/admin/discussions",
    "/admin/blocks",
    "/admin/federation",
    "/admin/account",
    "/admin/audit",
    "/admin/staff",
    "/admin/discussions/new",
    "/admin/discussions/speeltuin/edit",
    "/admin/discussions/speeltuin/reply",
    "/admin/blocks/import",
    "/admin/categories",
    "/admin/categories/buurt/edit",
    "/admin/proposals",
]


async def test_every_page_passes_axe_and_fits_a_phone(live: Live) -> None:
    """axe-core (WCAG 2 A/AA rules) finds nothing on any public page or, logged in, on
    any admin page, in Dutch and English; none is wider than 390 px."""
    axe_api = pytest.importorskip("axe_playwright_python.async_playwright")
    categories = Categories(live.settings, live.store, live.discussions.keyring)
    await categories.ensure_forum()
    await categories.create(
        slug="buurt", name="Buurt en wijkvoorzieningen", description="Speeltuinen, bankjes"
    )
    d = await live.discussions.create(
        slug="speeltuin",
        title="Een nieuwe speeltuin bij de Omgevingsvergunningaanvraagbehandeling",
        body="Waar moet hij komen?",
        lang="nl",
        category="buurt",
    )
    await add_replies(live.store, d, 60)
    await live.client.post("/d/speeltuin/m/1/report", data={"reason": "spam", "comment": "x"})
    await live.services.staff.create("beheer", "correct horse battery", "admin")
    axe = axe_api.Axe()
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            for locale in ("nl-NL", "en-GB"):
                page = await browser.new_page(viewport={"width": 390, "height": 844}, locale=locale)
                await page.route("https://mastodon.example/**", lambda route: route.abort())
                found: dict[str, Any] = {}
                for path in PUBLIC_PAGES:
                    await page.goto(f"{live.base_url}{path}")
                    found[path] = await _problems(page, axe)
                await page.goto(f"{live.base_url}/admin/login")
                await page.fill("#username", "beheer")
                await page.fill("#password", "correct horse battery")
                await page.click("button[type=submit]")
                await page.wait_for_url(f"{live.base_url}/admin")
                for path in ADMIN_PAGES:
                    response = await page.goto(f"{live.base_url}{path}")
                    assert response is not None
                    assert response.status == 200, path
                    found[path] = await _problems(page, axe)
                assert {p: v for p, v in found.items() if v} == {}, locale
                await page.close()
        finally:
            await browser.close()


async def _problems(page: Any, axe: Any) -> list[str]:
    results = await axe.run(page)
    problems = [
        f"{v['id']} ({v['impact']}, {len(v['nodes'])})" for v in results.response["violations"]
    ]
    width = await page.evaluate("document.documentElement.scrollWidth")
    if width > 390:
        problems.append(f"{width} px wide")
    return problems


async def test_the_reply_path_works_with_the_keyboard_alone(live: Live) -> None:
    """Tab from the top of the page to "your fediverse address", type it, Enter: the
    page that sends a visitor to their own server (its lookup answers in words)."""
    await live.discussions.create(slug="toets", title="Toetsenbord", body="b", lang="nl")
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844}, locale="nl-NL")
            await page.goto(f"{live.base_url}/d/toets")
            for _ in range(40):  # the keyboard only: Tab until the address field
                await page.keyboard.press("Tab")
                if await page.evaluate("document.activeElement.id") == "visitor-handle":
                    break
            else:
                raise AssertionError("the address field is not reachable with Tab")
            style = await page.evaluate(
                "[getComputedStyle(document.activeElement).outlineStyle,"
                " getComputedStyle(document.activeElement).outlineColor]"
            )
            assert style[0] == "solid"  # the focus is visible, at 3:1 against the page
            assert _contrast(style[1], "rgb(255, 255, 255)") >= 3
            await page.keyboard.type("@iemand@server.invalid")
            async with page.expect_navigation():
                await page.keyboard.press("Enter")
            assert "/d/toets/interact?handle=%40iemand%40server.invalid" in page.url
            assert await page.locator("main").count() == 1
        finally:
            await browser.close()


def _contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two CSS rgb() colours."""

    def luminance(colour: str) -> float:
        channels = [int(c) / 255 for c in colour[colour.index("(") + 1 : -1].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)
