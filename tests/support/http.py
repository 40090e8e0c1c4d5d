"""What many tests send and read over HTTP: the Accept headers of a fediverse server and
a browser, the admin login with its CSRF token."""

from __future__ import annotations

import re

import httpx

AS2 = "application/activity+json"
BROWSER = {"Accept": "text/html"}
PASSWORD = "correct horse battery"


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def login(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> httpx.Response:
    """Log in at /admin as a browser does: the form's token, then the POST."""
    page = await client.get("/admin/login", headers=BROWSER)
    return await client.post(
        "/admin/login",
        headers=BROWSER,
        data={"csrf": csrf_token(page.text), "username": username, "password": password},
    )
