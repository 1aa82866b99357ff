"""Errors of the server's requests, each with the HTTP status a client gets.

The message is one line saying what is wrong and what to do, as everywhere in
ccdphot; the API sends it as ``{"detail": message}``.
"""

from ccdphot.errors import CCDPhotError


class RequestError(CCDPhotError):
    """A request the server refuses; ``status_code`` is the HTTP status."""

    status_code = 400


class Unauthorized(RequestError):
    status_code = 401


class NotFound(RequestError):
    status_code = 404


class Forbidden(RequestError):
    status_code = 403


class Conflict(RequestError):
    status_code = 409


class TooLarge(RequestError):
    status_code = 413


class Invalid(RequestError):
    status_code = 422


class RateLimited(RequestError):
    status_code = 429

    def __init__(self, message, retry_after_s):
        super().__init__(message)
        self.retry_after_s = retry_after_s
