"""The SSRF guard's address rules (pure: nothing is connected to here)."""

import pytest

from fedi_forum.errors import UnsafeUrl
from fedi_forum.federation.client import AddressPolicy

STRICT = AddressPolicy(allow_loopback=False)
LOOPBACK_OK = AddressPolicy(allow_loopback=True)


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "127.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "198.18.0.1",
        "2001:db8::1",
        "not-an-ip",
    ],
)
def test_non_global_addresses_are_refused(address: str) -> None:
    assert not STRICT.allows(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2a00:1450:4001:80b::200e", "1.1.1.1"])
def test_global_addresses_are_allowed(address: str) -> None:
    assert STRICT.allows(address)


def test_loopback_only_when_configured_and_private_never() -> None:
    assert LOOPBACK_OK.allows("127.0.0.1")
    assert LOOPBACK_OK.allows("127.8.9.10")
    assert LOOPBACK_OK.allows("::1")
    assert LOOPBACK_OK.allows("::ffff:127.0.0.1")
    assert not LOOPBACK_OK.allows("10.0.0.1")
    assert not LOOPBACK_OK.allows("169.254.169.254")


@pytest.mark.parametrize(
    "url",
    [
        "http://example.org/a",
        "ftp://example.org/a",
        "https://user:pw@example.org/a",
        "https://user@example.org/a",
        "https://:pw@example.org/a",
        "https://10.0.0.1/a",
        "https://[::1]/a",
        "https://169.254.169.254/latest/meta-data",
        "https:///nohost",
        "javascript:alert(1)",
        "file:///etc/passwd",
    ],
)
def test_urls_refused_before_connecting(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        STRICT.check_url(url)


def test_http_is_for_loopback_mode_only() -> None:
    STRICT.check_url("https://example.org/users/a")
    LOOPBACK_OK.check_url("http://127.0.0.1:8000/users/a")
    with pytest.raises(UnsafeUrl):
        LOOPBACK_OK.check_url("http://10.1.2.3/users/a")
