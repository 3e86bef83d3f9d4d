"""The error tree. Domain errors only: the API maps them to HTTP in one place.

    CorralError
    ├── InvalidRequest        bad input; names the field, the value and the limit
    │   └── Infeasible        can never run (permanent refusal at submit)
    ├── NotFound              no such job / node / partition
    ├── PermissionDenied      not yours
    │   ├── Unauthenticated   no identity at all
    │   └── SubmitRefused     the site's submit filter refused the job
    ├── Conflict              the request clashes with the current state
    │   └── IllegalTransition a move not in the state table
    ├── Unavailable           try again later (controller starting, store down)
    │   └── NotLeader         a follower: the leader is elsewhere (`leader`, if known)
    └── RateLimited           the caller sent more requests than the site allows;
                              nothing was done (`retry_after_s`)
"""

from __future__ import annotations


class CorralError(Exception):
    """Base of every error corral raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidRequest(CorralError):
    code = "invalid"


class Infeasible(InvalidRequest):
    code = "infeasible"


class NotFound(CorralError):
    code = "not_found"


class PermissionDenied(CorralError):
    code = "forbidden"


class Unauthenticated(PermissionDenied):
    code = "unauthenticated"


class SubmitRefused(PermissionDenied):
    """Raised by a site's submit filter (docs/configuration.md) to refuse a job."""

    code = "refused"


class Conflict(CorralError):
    code = "conflict"


class IllegalTransition(Conflict):
    code = "illegal_transition"


class Unavailable(CorralError):
    code = "unavailable"


class NotLeader(Unavailable):
    """Answered by a controller that follows: the request went nowhere."""

    code = "not_leader"
    leader: str | None = None  # the leader's address, when the follower knows it


class RateLimited(CorralError):
    """The caller's requests are over the site's rate (services/rate_limit.py): this
    one was not carried out; it may be sent again after `retry_after_s`."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


ERROR_CLASSES: dict[str, type[CorralError]] = {
    cls.code: cls
    for cls in (CorralError, InvalidRequest, Infeasible, NotFound, PermissionDenied,
                Unauthenticated, SubmitRefused, Conflict, IllegalTransition, Unavailable,
                NotLeader, RateLimited)
}
