"""HTTP signatures: our signer round-trips through our verifier, signatures made by an
independent implementation (http-message-signatures for RFC 9421, hand-built cavage
strings as Mastodon and GoToSocial build them) verify, and every forgery fails."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import httpsig
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms
from starlette.datastructures import Headers

from fedi_forum.activitypub import keys
from fedi_forum.activitypub.signatures import (
    Request,
    load_public_key,
    parse_cavage_params,
    read_signature,
    sign_request,
    sign_request_rfc9421,
)
from fedi_forum.errors import ClockSkew, DigestMismatch, SignatureInvalid, SignatureMissing
from fedi_forum.web.inbox import header_fields

URL = "https://forum.example.nl/d/afval/inbox"
KEY_ID = "https://mastodon.example/users/alice#main-key"
BODY = b'{"type":"Create","id":"https://mastodon.example/1"}'
NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return keys.generate_private_key()


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return keys.generate_private_key()


def signed_post(key: rsa.RSAPrivateKey, body: bytes = BODY, now: datetime = NOW) -> Request:
    headers = sign_request(
        method="POST", url=URL, key_id=KEY_ID, private_key=key, body=body, now=now
    )
    return Request("POST", URL, headers, body)


def test_round_trip_post_and_get(key: rsa.RSAPrivateKey) -> None:
    claim = read_signature(signed_post(key), NOW)
    assert claim.key_id == KEY_ID
    claim.verify(key.public_key())
    get = sign_request(
        method="GET", url=URL + "?page=true", key_id=KEY_ID, private_key=key, now=NOW
    )
    assert "digest" not in get
    read_signature(Request("GET", URL + "?page=true", get, b""), NOW).verify(key.public_key())


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('a="x\\"y",b=tok', {"a": 'x"y', "b": "tok"}),  # an escaped quote; a token
        ('a="x\\\\",b="y"', {"a": "x\\", "b": "y"}),  # an escaped backslash ends it
        ('a = "sp" , b="q"', {"a": "sp", "b": "q"}),  # spaces around = and ,
        ('a="",a="second"', {"a": ""}),  # empty; the first occurrence wins
        ('Signature keyId="k",signature="s"', {"keyId": "k", "signature": "s"}),
        ('a="\u00e9\\n"', {"a": "\u00e9n"}),
    ],
)
def test_signature_parameters_follow_rfc7230_quoting(header: str, expected: dict[str, str]) -> None:
    assert parse_cavage_params(header) == expected


def test_a_field_sent_on_several_lines_is_signed_as_one_joined_value() -> None:
    """RFC 9110 §5.3: what a signer covers for a repeated field is its values joined
    with ", ", in the order sent; the inbox hands the verifier exactly that."""
    raw = [(b"accept", b"a/b"), (b"host", b"forum.example.nl"), (b"accept", b"c/d")]
    assert header_fields(Headers(raw=raw)) == {
        "accept": "a/b, c/d",
        "host": "forum.example.nl",
    }


def test_many_lines_of_one_field_are_joined_in_linear_time() -> None:
    """Attacker-controlled: 30,000 lines of one field. Joined value by value, each
    join copying everything before it, this took seconds (8,000 lines: 0.5 s); joined
    once, milliseconds. The bound leaves a margin of 100x for a slow machine."""
    import time

    raw = [(b"x-pad", b"%05d" % i + b"v" * 95) for i in range(30_000)]
    started = time.perf_counter()
    fields = header_fields(Headers(raw=raw))
    assert time.perf_counter() - started < 1.0
    values = fields["x-pad"].split(", ")
    assert len(values) == 30_000
    assert values[0].startswith("00000")
    assert values[-1].startswith("29999")


# attacker-controlled: each is refused as unparsable, never read as something else
@pytest.mark.parametrize(
    "header",
    ['a="unterminated', 'a="\\', 'a="x"y"', 'a="x",,b="y"', 'a="x" b="y"', "=x", 'a="x\\"'],
)
def test_malformed_signature_parameters_are_refused(header: str) -> None:
    with pytest.raises(SignatureInvalid, match="Error parsing"):
        parse_cavage_params(header)


def test_the_signature_header_has_mastodons_shape(key: rsa.RSAPrivateKey) -> None:
    headers = sign_request(
        method="POST", url=URL, key_id=KEY_ID, private_key=key, body=BODY, now=NOW
    )
    params = parse_cavage_params(headers["signature"])
    assert params["algorithm"] == "rsa-sha256"
    assert params["headers"] == "(request-target) host date digest content-type"
    assert (
        headers["digest"] == "SHA-256=" + base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    )
    assert headers["date"] == "Sat, 28 Nov 2026 12:00:00 GMT"
    assert headers["host"] == "forum.example.nl"


def _mastodon_style(
    key: rsa.RSAPrivateKey,
    names: list[str],
    *,
    algorithm: str | None,
    key_id: str = KEY_ID,
    path: str = "/d/afval/inbox",
    extra: str = "",
) -> dict[str, str]:
    """Build a signature the way Mastodon's HttpSignatureDraft does, by hand."""
    headers = {
        "host": "forum.example.nl",
        "date": "Sat, 28 Nov 2026 12:00:00 GMT",
        "digest": "SHA-256=" + base64.b64encode(hashlib.sha256(BODY).digest()).decode(),
        "content-type": "application/activity+json",
    }
    lines = [
        f"(request-target): post {path}" if n == "(request-target)" else f"{n}: {headers[n]}"
        for n in names
    ]
    sig = base64.b64encode(
        key.sign("\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256())
    ).decode()
    alg = f',algorithm="{algorithm}"' if algorithm else ""
    headers["signature"] = (
        f'keyId="{key_id}"{alg},headers="{" ".join(names)}",signature="{sig}"{extra}'
    )
    return headers


@pytest.mark.parametrize(
    "algorithm",
    [
        pytest.param("rsa-sha256", id="rsa-sha256"),
        pytest.param("hs2019", id="hs2019-gotosocial"),
        pytest.param(None, id="missing-algorithm"),
    ],
)
def test_real_server_shapes_verify(key: rsa.RSAPrivateKey, algorithm: str | None) -> None:
    # Mastodon puts (request-target) last nowadays; the headers= order decides.
    names = ["host", "date", "digest", "content-type", "(request-target)"]
    headers = _mastodon_style(
        key, names, algorithm=algorithm, key_id="https://gts.example/users/bob/main-key"
    )
    claim = read_signature(Request("POST", URL, headers, BODY), NOW)
    assert claim.key_id == "https://gts.example/users/bob/main-key"
    claim.verify(key.public_key())


def test_query_string_is_tried_with_and_without(key: rsa.RSAPrivateKey) -> None:
    names = ["(request-target)", "host", "date", "digest"]
    headers = _mastodon_style(key, names, algorithm="rsa-sha256")  # signed without the query
    read_signature(Request("POST", URL + "?x=1", headers, BODY), NOW).verify(key.public_key())


def test_signature_prefix_and_odd_spacing_are_tolerated(key: rsa.RSAPrivateKey) -> None:
    headers = _mastodon_style(
        key, ["(request-target)", "host", "date", "digest"], algorithm="rsa-sha256"
    )
    headers["signature"] = "Signature " + headers["signature"].replace(",", " , ")
    read_signature(Request("POST", URL, headers, BODY), NOW).verify(key.public_key())


def test_rfc9421_signed_by_an_independent_library_verifies(key: rsa.RSAPrivateKey) -> None:
    class Msg:
        method = "POST"
        url = URL
        headers: dict[str, str] = {"content-type": "application/activity+json"}  # noqa: RUF012

    msg = Msg()
    msg.headers = dict(msg.headers)
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.RSA_V1_5_SHA256,
        key_resolver=MappingKeyResolver(private_keys={KEY_ID: key}, public_keys={}),
    )
    signer.sign(
        msg,
        key_id=KEY_ID,
        created=NOW,
        label="sig1",
        covered_component_ids=("@method", "@target-uri", "@authority"),
        body=BODY,
    )
    headers = {k.lower(): v for k, v in msg.headers.items()}
    claim = read_signature(Request("POST", URL, headers, BODY), NOW)
    assert claim.spec == "rfc9421"
    assert claim.key_id == KEY_ID
    claim.verify(key.public_key())
    # the body is bound through Content-Digest
    tampered = read_signature(Request("POST", URL, headers, BODY + b" "), NOW)
    with pytest.raises(SignatureInvalid):
        tampered.verify(key.public_key())
    with pytest.raises(SignatureInvalid):
        read_signature(Request("POST", URL, headers, BODY), NOW).verify(
            keys.generate_private_key().public_key()
        )
    with pytest.raises(ClockSkew):
        read_signature(Request("POST", URL, headers, BODY), NOW + timedelta(hours=2))


def test_rfc9421_without_target_uri_is_refused(key: rsa.RSAPrivateKey) -> None:
    class Msg:
        method = "POST"
        url = URL
        headers: dict[str, str] = {}  # noqa: RUF012

    msg = Msg()
    HTTPMessageSigner(
        signature_algorithm=algorithms.RSA_V1_5_SHA256,
        key_resolver=MappingKeyResolver(private_keys={KEY_ID: key}, public_keys={}),
    ).sign(msg, key_id=KEY_ID, created=NOW, covered_component_ids=("@method",), body=BODY)
    headers = {k.lower(): v for k, v in msg.headers.items()}
    with pytest.raises(SignatureInvalid, match="target-uri"):
        read_signature(Request("POST", URL, headers, BODY), NOW).verify(key.public_key())


@pytest.mark.parametrize(
    ("now", "ok"),
    [
        pytest.param(NOW - timedelta(minutes=59), True, id="59min-early-ok"),
        pytest.param(NOW - timedelta(minutes=61), False, id="61min-early"),
        pytest.param(NOW + timedelta(minutes=64), True, id="64min-late-ok"),
        pytest.param(NOW + timedelta(minutes=66), False, id="66min-late-replay"),
    ],
)
def test_time_window_is_mastodons(key: rsa.RSAPrivateKey, now: datetime, ok: bool) -> None:
    request = signed_post(key)
    if ok:
        read_signature(request, now).verify(key.public_key())
    else:
        with pytest.raises(ClockSkew):
            read_signature(request, now)


def test_forgeries_fail(key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    good = signed_post(key)
    with pytest.raises(SignatureInvalid):  # wrong key
        read_signature(good, NOW).verify(other_key.public_key())
    with pytest.raises(DigestMismatch):  # body changed after signing
        read_signature(Request("POST", URL, good.headers, BODY + b" "), NOW)
    swapped = dict(good.headers, host="evil.example")  # header swapped
    with pytest.raises(SignatureInvalid):
        read_signature(Request("POST", URL, swapped, BODY), NOW).verify(key.public_key())
    with pytest.raises(SignatureInvalid):  # replayed to another inbox
        read_signature(
            Request("POST", URL.replace("afval", "other"), good.headers, BODY), NOW
        ).verify(key.public_key())
    with pytest.raises(SignatureMissing):
        read_signature(Request("POST", URL, {}, BODY), NOW)


@pytest.mark.parametrize(
    ("names", "algorithm", "error"),
    [
        pytest.param(["host", "date", "digest"], "rsa-sha256", "request-target", id="no-target"),
        pytest.param(["(request-target)", "host", "digest"], "rsa-sha256", "Date", id="no-date"),
        pytest.param(
            ["(request-target)", "host", "date"], "rsa-sha256", "digest", id="post-without-digest"
        ),
        pytest.param(
            ["(request-target)", "host", "date", "digest"],
            "rsa-sha512",
            "supported",
            id="rsa-sha512",
        ),
        pytest.param(
            ["(request-target)", "host", "date", "digest"], "hmac-sha256", "supported", id="hmac"
        ),
    ],
)
def test_weak_or_unsupported_signatures_are_refused(
    key: rsa.RSAPrivateKey, names: list[str], algorithm: str, error: str
) -> None:
    headers = _mastodon_style(key, names, algorithm=algorithm)
    with pytest.raises(SignatureInvalid, match=error):
        read_signature(Request("POST", URL, headers, BODY), NOW)


def test_httpsig_algorithm_confusion_forgery_is_refused(key: rsa.RSAPrivateKey) -> None:
    """The attack the PyPI httpsig package falls for: HMAC keyed with our public key."""
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    headers = {
        "host": "forum.example.nl",
        "date": "Sat, 28 Nov 2026 12:00:00 GMT",
        "digest": "SHA-256=" + base64.b64encode(hashlib.sha256(BODY).digest()).decode(),
    }
    signer = httpsig.HeaderSigner(
        KEY_ID,
        public_pem,
        algorithm="hmac-sha256",
        headers=["(request-target)", "host", "date", "digest"],
        sign_header="signature",
    )
    forged = signer.sign(
        dict(headers), host="forum.example.nl", method="POST", path="/d/afval/inbox"
    )
    forged = {k.lower(): v for k, v in forged.items()}
    # httpsig itself accepts its own forgery...
    assert httpsig.HeaderVerifier(
        forged, public_pem, method="POST", path="/d/afval/inbox", sign_header="signature"
    ).verify()
    # ...we do not.
    with pytest.raises(SignatureInvalid, match="supported"):
        read_signature(Request("POST", URL, forged, BODY), NOW)
    # and relabelling it rsa-sha256 does not make an HMAC verify as RSA
    relabelled = dict(forged, signature=forged["signature"].replace("hmac-sha256", "rsa-sha256"))
    with pytest.raises(SignatureInvalid):
        read_signature(Request("POST", URL, relabelled, BODY), NOW).verify(key.public_key())


@pytest.mark.parametrize(
    "header",
    [
        'keyId="a",signature="!!!"',
        'keyId="a"',
        "garbage",
        'keyId="a",,signature="x"',
        'keyId="a" signature="x"',
        "x" * 9000,
        'keyId="a",signature="AAAA",algorithm="hs2019",'
        'headers="(request-target) (created) digest",created="soon"',
    ],
)
def test_malformed_signature_headers_are_401_not_500(header: str) -> None:
    request = Request(
        "POST",
        URL,
        {"signature": header, "date": "Sat, 28 Nov 2026 12:00:00 GMT", "digest": "SHA-256=x"},
        BODY,
    )
    with pytest.raises((SignatureInvalid, DigestMismatch)):
        read_signature(request, NOW)


def test_hs2019_created_and_expires_pseudo_headers(key: rsa.RSAPrivateKey) -> None:
    created = int(NOW.timestamp())
    digest = "SHA-256=" + base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    base = (
        f"(request-target): post /d/afval/inbox\nhost: forum.example.nl\n(created): {created}\n"
        f"digest: {digest}"
    )
    sig = base64.b64encode(key.sign(base.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
    headers = {
        "host": "forum.example.nl",
        "digest": digest,
        "signature": (
            f'keyId="{KEY_ID}",algorithm="hs2019",created={created},'
            f'headers="(request-target) host (created) digest",signature="{sig}"'
        ),
    }
    read_signature(Request("POST", URL, headers, BODY), NOW).verify(key.public_key())
    with pytest.raises(ClockSkew):
        read_signature(Request("POST", URL, headers, BODY), NOW + timedelta(hours=2))


def test_remote_keys_must_be_rsa_of_1024_to_8192_bits() -> None:
    """A weak modulus could be factored; a huge one makes every verification expensive."""

    def pem(public: object) -> str:
        return public.public_bytes(  # type: ignore[attr-defined, no-any-return]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    for bits in (768, 1023, 8193, 9000):
        public = rsa.RSAPublicNumbers(65537, 2 ** (bits - 1) + 1).public_key()
        with pytest.raises(SignatureInvalid, match="bits"):
            load_public_key(pem(public))
    assert load_public_key(pem(rsa.RSAPublicNumbers(65537, 2**8191 + 1).public_key()))
    with pytest.raises(SignatureInvalid, match="only RSA"):
        load_public_key(pem(ec.generate_private_key(ec.SECP256R1()).public_key()))


def test_remote_keys_are_checked() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = (
        small.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert load_public_key(pem).key_size == 1024
    with pytest.raises(SignatureInvalid):
        load_public_key("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----")
    with pytest.raises(SignatureInvalid):
        load_public_key("ünïcode")


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("https://b.example/inbox", b'{"type":"Announce"}'),
        ("http://127.0.0.1:8080/users/x/inbox?a=1", b"{}"),
        ("https://B.Example:443/inbox", None),
    ],
)
def test_our_rfc9421_signer_matches_the_library_byte_for_byte(
    key: rsa.RSAPrivateKey, url: str, body: bytes | None
) -> None:
    """We build the signature base ourselves (speed); the independent library must build
    exactly the same headers, and verify ours."""
    when = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    key_id = "https://a.example/d/park#main-key"
    ours = sign_request_rfc9421(
        method="POST", url=url, key_id=key_id, private_key=key, body=body, now=when
    )

    class Message:
        method = "POST"

        def __init__(self) -> None:
            self.url = url
            self.headers: dict[str, str] = {}

    message = Message()
    components = ["@method", "@target-uri", "@authority"]
    if body is not None:
        message.headers["Content-Type"] = "application/activity+json"
        components.append("content-type")
    HTTPMessageSigner(
        signature_algorithm=algorithms.RSA_V1_5_SHA256,
        key_resolver=MappingKeyResolver(private_keys={key_id: key}, public_keys={}),
    ).sign(
        message,
        key_id=key_id,
        created=when,
        label="sig1",
        covered_component_ids=components,
        body=body,
    )
    assert ours == {k.lower(): v for k, v in message.headers.items()}
    if body is not None:  # a POST without a body is refused by our verifier, rightly
        claim = read_signature(Request("POST", url, ours, body), now=when)
        claim.verify(key.public_key())


def _cavage(key: rsa.RSAPrivateKey, names: list[str], headers: dict[str, str], extra: str) -> str:
    """A cavage Signature header over ``names`` (values from ``headers``), made by hand."""
    lines = []
    for name in names:
        if name == "(request-target)":
            lines.append("(request-target): post /d/afval/inbox")
        else:
            lines.append(f"{name}: {headers[name]}")
    sig = base64.b64encode(
        key.sign("\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256())
    ).decode()
    signed = " ".join(names)
    return f'keyId="{KEY_ID}",algorithm="hs2019",{extra}headers="{signed}",signature="{sig}"'


def test_freshness_comes_only_from_signed_material(key: rsa.RSAPrivateKey) -> None:
    """A captured hs2019 request with an old Date cannot be refreshed by writing a new,
    unsigned ``created=`` (or ``expires=``) into its Signature header."""
    stale = NOW - timedelta(days=3)
    digest = "SHA-256=" + base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    headers = {
        "host": "forum.example.nl",
        "date": stale.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        "digest": digest,
    }
    names = ["(request-target)", "host", "date", "digest"]
    fresh_params = f"created={int(NOW.timestamp())},expires={int(NOW.timestamp()) + 300},"
    replay = dict(headers, signature=_cavage(key, names, headers, fresh_params))
    with pytest.raises(ClockSkew):
        read_signature(Request("POST", URL, replay, BODY), NOW)
    # the same signature within its window is fine: it is the Date that counts
    read_signature(Request("POST", URL, replay, BODY), stale).verify(key.public_key())
    # a signed (expires) is the sender's deadline, with a minute's allowance only
    created = int(NOW.timestamp())
    timed = dict(headers, **{"(created)": str(created), "(expires)": str(created + 30)})
    names = ["(request-target)", "host", "(created)", "(expires)", "digest"]
    header = _cavage(key, names, timed, f"created={created},expires={created + 30},")
    request = Request("POST", URL, dict(headers, signature=header), BODY)
    read_signature(request, NOW + timedelta(seconds=60)).verify(key.public_key())
    with pytest.raises(ClockSkew):
        read_signature(request, NOW + timedelta(minutes=5))


def test_the_signed_host_must_be_ours(key: rsa.RSAPrivateKey) -> None:
    """A request signed for another server's inbox (same path) does not replay here."""
    elsewhere = sign_request(
        method="POST",
        url="https://other.example/d/afval/inbox",
        key_id=KEY_ID,
        private_key=key,
        body=BODY,
        now=NOW,
    )
    with pytest.raises(SignatureInvalid, match="host"):
        read_signature(Request("POST", URL, elsewhere, BODY), NOW)
    # host left out of the signature: refused too (every fediverse server signs it)
    digest = "SHA-256=" + base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    # (the Host header is ours, but the signature does not cover it: a replay could set it)
    headers = {
        "host": "forum.example.nl",
        "date": NOW.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        "digest": digest,
    }
    unbound = _cavage(key, ["(request-target)", "date", "digest"], headers, "")
    with pytest.raises(SignatureInvalid, match="host"):
        read_signature(Request("POST", URL, dict(headers, signature=unbound), BODY), NOW)
    # ours, with the default port written out, is fine
    ours = sign_request(method="POST", url=URL, key_id=KEY_ID, private_key=key, body=BODY, now=NOW)
    ours["host"] = "forum.example.nl:443"
    with pytest.raises(SignatureInvalid):  # the value signed was without the port
        read_signature(Request("POST", URL, ours, BODY), NOW).verify(key.public_key())


def test_rfc9421_is_bound_to_our_authority_and_its_expiry(key: rsa.RSAPrivateKey) -> None:
    elsewhere = sign_request_rfc9421(
        method="POST",
        url="https://other.example/d/afval/inbox",
        key_id=KEY_ID,
        private_key=key,
        body=BODY,
        now=NOW,
    )
    with pytest.raises(SignatureInvalid):
        read_signature(Request("POST", URL, elsewhere, BODY), NOW).verify(key.public_key())

    def signed(expires: datetime) -> Request:
        class Message:
            method = "POST"
            url = URL

            def __init__(self) -> None:
                self.headers = {"content-type": "application/activity+json"}

        message = Message()
        HTTPMessageSigner(
            signature_algorithm=algorithms.RSA_V1_5_SHA256,
            key_resolver=MappingKeyResolver(private_keys={KEY_ID: key}, public_keys={}),
        ).sign(
            message,
            key_id=KEY_ID,
            label="sig1",
            created=NOW,
            expires=expires,
            covered_component_ids=("@method", "@target-uri", "@authority", "content-digest"),
            body=BODY,
        )
        return Request("POST", URL, {k.lower(): v for k, v in message.headers.items()}, BODY)

    request = signed(NOW + timedelta(seconds=30))
    read_signature(request, NOW + timedelta(seconds=60)).verify(key.public_key())
    with pytest.raises(ClockSkew):  # no hour of grace after an explicit expires
        read_signature(request, NOW + timedelta(minutes=10))


# -- edges found by mutation testing (make mutation; docs/mutation.md) ------------------


def _post_headers(
    key: rsa.RSAPrivateKey, names: list[str], extra: dict[str, str], params: str = ""
) -> dict[str, str]:
    digest = "SHA-256=" + base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    headers = {
        "host": "forum.example.nl",
        "date": NOW.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        "digest": digest,
        **extra,
    }
    return dict(headers, signature=_cavage(key, names, headers, params))


def test_digest_is_checked_whenever_it_is_signed(key: rsa.RSAPrivateKey) -> None:
    names = ["(request-target)", "host", "date", "digest"]
    # POST listing digest but sending none
    headers = _post_headers(key, names, {})
    del headers["digest"]
    with pytest.raises(DigestMismatch):
        read_signature(Request("POST", URL, headers, BODY), NOW)
    # a GET that signs a Digest must carry the right one
    get = sign_request(method="GET", url=URL, key_id=KEY_ID, private_key=key, now=NOW)
    get["digest"] = "SHA-256=" + base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    get["signature"] = get["signature"].replace(
        'headers="(request-target) host date"', 'headers="(request-target) host date digest"'
    )
    with pytest.raises(DigestMismatch):
        read_signature(Request("GET", URL, get, b""), NOW)


def test_digest_header_forms(key: rsa.RSAPrivateKey) -> None:
    good = base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    names = ["(request-target)", "host", "date", "digest"]
    for accepted in (f"MD5=abc, SHA-256={good}", f"sha-256={good}", f" SHA-256= {good} "):
        headers = _post_headers(key, names, {"digest": accepted})
        read_signature(Request("POST", URL, headers, BODY), NOW).verify(key.public_key())
    for refused in ("SHA-256", f"SHA-256={good[:-2]}!!", "MD5=abc", f"SHA-512={good}"):
        headers = _post_headers(key, names, {"digest": refused})
        with pytest.raises(DigestMismatch):
            read_signature(Request("POST", URL, headers, BODY), NOW)


def test_created_pseudo_header_needs_hs2019_and_a_number(key: rsa.RSAPrivateKey) -> None:
    names = ["(request-target)", "host", "(created)", "digest"]
    created = str(int(NOW.timestamp()))
    for params in (f"created={created},", "created=soon,", ""):
        headers = _post_headers(key, names, {"(created)": created}, params)
        if params.startswith("created=1"):
            headers["signature"] = headers["signature"].replace("hs2019", "rsa-sha256")
        with pytest.raises(SignatureInvalid, match=r"\(created\)"):
            read_signature(Request("POST", URL, headers, BODY), NOW)


def test_malformed_signature_parameters_are_refused_before_any_key_work(
    key: rsa.RSAPrivateKey,
) -> None:
    headers = signed_post(key).headers
    for signature in (
        f'keyId="{KEY_ID}",headers="(request-target) host date digest"',  # no signature
        'signature="AAAA",headers="(request-target) host date digest"',  # no keyId
        f'keyId="{KEY_ID}",algorithm="rsa-sha256",headers="(request-target) host date '
        'digest",signature="!!not base64!!"',
    ):
        with pytest.raises(SignatureInvalid):
            read_signature(Request("POST", URL, dict(headers, signature=signature), BODY), NOW)


def test_default_ports_may_be_written_out_in_the_signed_host(key: rsa.RSAPrivateKey) -> None:
    for url in (
        "https://forum.example.nl:443/d/afval/inbox",
        "http://forum.example.nl:80/d/afval/inbox",
    ):
        headers = sign_request(
            method="POST", url=url, key_id=KEY_ID, private_key=key, body=BODY, now=NOW
        )
        ours = url.replace(":443", "").replace(":80", "")
        read_signature(Request("POST", ours, headers, BODY), NOW).verify(key.public_key())
    # but not another port
    other = sign_request(
        method="POST",
        url="https://forum.example.nl:8443/d/afval/inbox",
        key_id=KEY_ID,
        private_key=key,
        body=BODY,
        now=NOW,
    )
    with pytest.raises(SignatureInvalid, match="host"):
        read_signature(Request("POST", URL, other, BODY), NOW)


def test_window_edges_are_inclusive(key: rsa.RSAPrivateKey) -> None:
    """Exactly at the edge of each bound is still accepted, a second past it is not."""
    request = signed_post(key)
    read_signature(request, NOW - timedelta(hours=1))  # created exactly 1 h "ahead"
    with pytest.raises(ClockSkew):
        read_signature(request, NOW - timedelta(hours=1, seconds=1))
    read_signature(request, NOW + timedelta(hours=1, minutes=5))
    with pytest.raises(ClockSkew):
        read_signature(request, NOW + timedelta(hours=1, minutes=5, seconds=1))
    created = int(NOW.timestamp())
    timed = {"(created)": str(created), "(expires)": str(created + 30)}
    names = ["(request-target)", "host", "(created)", "(expires)", "digest"]
    headers = _post_headers(key, names, timed, f"created={created},expires={created + 30},")
    read_signature(Request("POST", URL, headers, BODY), NOW + timedelta(seconds=90))
    with pytest.raises(ClockSkew):
        read_signature(Request("POST", URL, headers, BODY), NOW + timedelta(seconds=91))


def _rfc9421(
    key: rsa.RSAPrivateKey,
    method: str,
    components: tuple[str, ...],
    body: bytes | None,
    **params: object,
) -> Request:
    class Message:
        url = URL

        def __init__(self) -> None:
            self.method = method
            self.headers = {"content-type": "application/activity+json"}

    message = Message()
    HTTPMessageSigner(
        signature_algorithm=algorithms.RSA_V1_5_SHA256,
        key_resolver=MappingKeyResolver(private_keys={KEY_ID: key}, public_keys={}),
    ).sign(
        message,
        key_id=KEY_ID,
        label="sig1",
        created=NOW,
        covered_component_ids=components,
        body=body,
        **params,  # type: ignore[arg-type]
    )
    headers = {k.lower(): v for k, v in message.headers.items()}
    return Request(method, URL, headers, body or b"")


def test_rfc9421_requirements(key: rsa.RSAPrivateKey) -> None:
    # a GET needs no content-digest; a POST does
    get = _rfc9421(key, "GET", ("@method", "@target-uri", "@authority"), None)
    read_signature(get, NOW).verify(key.public_key())
    post = _rfc9421(key, "POST", ("@method", "@target-uri", "@authority"), None)
    post = Request("POST", URL, post.headers, BODY)
    with pytest.raises(SignatureInvalid):
        read_signature(post, NOW).verify(key.public_key())
    good = _rfc9421(key, "POST", ("@method", "@target-uri", "content-digest"), BODY)
    read_signature(good, NOW).verify(key.public_key())
    # two signatures, another algorithm, an empty keyid: refused before any key work
    doubled = dict(good.headers)
    doubled["signature-input"] += ", " + doubled["signature-input"].replace("sig1", "sig2")
    doubled["signature"] += ", " + doubled["signature"].replace("sig1", "sig2")
    other_alg = dict(good.headers)
    other_alg["signature-input"] = other_alg["signature-input"].replace(
        'alg="rsa-v1_5-sha256"', 'alg="hmac-sha256"'
    )
    if 'alg="hmac-sha256"' not in other_alg["signature-input"]:
        other_alg["signature-input"] += ';alg="hmac-sha256"'
    empty_key = dict(good.headers)
    empty_key["signature-input"] = empty_key["signature-input"].replace(
        f'keyid="{KEY_ID}"', 'keyid=""'
    )
    for headers in (doubled, other_alg, empty_key):
        with pytest.raises(SignatureInvalid):
            read_signature(Request("POST", URL, headers, BODY), NOW)
