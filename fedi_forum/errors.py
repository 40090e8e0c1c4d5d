"""One exception tree for the whole server.

Every error knows the HTTP status it maps to and a message that is safe to show the
client. The full cause (with internals) goes to the log only; ``public_message`` never
contains attacker-supplied data or file paths.

    FediForumError                 500  base; never raised directly
    ├── InvalidInput               400  malformed request (bad cursor, bad JSON, bad field)
    │   └── InvalidSlug            400  slug outside [a-z0-9_]{1,30} or reserved
    ├── NotFound                   404  unknown discussion, note or resource
    ├── Gone                       410  existed once (deleted discussion)
    ├── NotAcceptable              406  no representation matches Accept
    ├── Conflict                   409  e.g. slug already taken
    ├── RequestTooLarge            413  body over the cap
    ├── UriTooLong                 414  path or query over the cap
    ├── UnsupportedMediaType       415  wrong Content-Type
    ├── SignatureError             401  the request's HTTP signature does not hold
    │   ├── SignatureMissing            not signed at all
    │   ├── SignatureInvalid            malformed, wrong algorithm, or does not verify
    │   ├── ClockSkew                   outside the Date/created window
    │   ├── DigestMismatch              body changed after signing
    │   └── KeyFetchFailed              the signer's key could not be obtained
    ├── Forbidden                  403
    │   ├── Blocked                     a blocked domain or actor
    │   └── ActorMismatch               signer is not the activity's actor
    ├── InvalidActivity            400  JSON that is not an activity we can read
    ├── RateLimited                429  slow down (carries Retry-After)
    └── FetchError                 502  an outbound fetch failed (never shown to senders)
        └── UnsafeUrl                   refused by the SSRF guard
"""

from __future__ import annotations


class FediForumError(Exception):
    """Base of every error we raise on purpose."""

    status: int = 500
    public_message: str = "internal error"

    def __init__(self, detail: str | None = None, *, public_message: str | None = None) -> None:
        super().__init__(detail or public_message or self.public_message)
        if public_message is not None:
            self.public_message = public_message


class InvalidInput(FediForumError):
    status = 400
    public_message = "bad request"


class InvalidSlug(InvalidInput):
    public_message = "invalid discussion name"


class NotFound(FediForumError):
    status = 404
    public_message = "not found"


class Gone(FediForumError):
    status = 410
    public_message = "gone"


class NotAcceptable(FediForumError):
    status = 406
    public_message = "no acceptable representation"


class Conflict(FediForumError):
    status = 409
    public_message = "conflict"


class RequestTooLarge(FediForumError):
    status = 413
    public_message = "request too large"


class UriTooLong(FediForumError):
    status = 414
    public_message = "URI too long"


class UnsupportedMediaType(FediForumError):
    status = 415
    public_message = "unsupported media type"


class SignatureError(FediForumError):
    status = 401
    public_message = "signature verification failed"


class SignatureMissing(SignatureError):
    public_message = "request is not signed"


class SignatureInvalid(SignatureError):
    pass


class ClockSkew(SignatureError):
    public_message = "signature outside the accepted time window"


class DigestMismatch(SignatureError):
    public_message = "digest does not match the body"


class KeyFetchFailed(SignatureError):
    public_message = "could not obtain the signing key"


class Forbidden(FediForumError):
    status = 403
    public_message = "forbidden"


class Blocked(Forbidden):
    public_message = "blocked"


class ActorMismatch(Forbidden):
    public_message = "the signer is not the actor of this activity"


class InvalidActivity(InvalidInput):
    public_message = "not a valid activity"


class RetryLater(FediForumError):
    """Refused for now; ``retry_after`` seconds is when to come back (Retry-After)."""

    retry_after_default = 60

    def __init__(self, detail: str | None = None, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after = self.retry_after_default if retry_after is None else retry_after


class RateLimited(RetryLater):
    status = 429
    public_message = "too many requests"


class RequestTimeout(FediForumError):
    status = 408
    public_message = "the request took too long to arrive"


class Overloaded(RetryLater):
    """Busy right now (admission, key fetches for unknown signers): try again soon."""

    status = 503
    public_message = "overloaded, try again soon"
    retry_after_default = 5


class DatabaseUnavailable(FediForumError):
    """The database server cannot be reached (PostgreSQL: down, wrong URL, refused)."""

    status = 503
    public_message = "the database cannot be reached"


class DatabaseBusy(RetryLater):
    """A write kept meeting other processes' row locks (PostgreSQL, several hosts)."""

    status = 503
    public_message = "busy, try again soon"
    retry_after_default = 2


class FetchError(FediForumError):
    status = 502
    public_message = "could not fetch a remote resource"


class UnsafeUrl(FetchError):
    public_message = "refused to fetch that address"


class NoAnswer(FetchError):
    """Connected and sent, but the server did not answer in time (a hung request, not an
    unreachable server): what sets a delivery aside when the server answers the rest."""

    public_message = "a remote server did not answer in time"
