"""Short, stable names for why a request failed, as the crawl summary counts them."""

from __future__ import annotations

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

_KINDS: list[tuple[type[BaseException], str]] = [
    (DownloadConnectionRefusedError, "connection refused"),
    (CannotResolveHostError, "DNS lookup failed"),
    (DownloadTimeoutError, "timeout"),
    (DownloadCancelledError, "over the size limit"),
    (ResponseDataLossError, "truncated response"),
    (DownloadFailedError, "download failed"),
    (ConnectionRefusedError, "connection refused"),
    (TimeoutError, "timeout"),
]


def ignored_reason(exc: BaseException) -> str:
    message = str(exc).lower()
    if "robots.txt" in message:
        return "disallowed by robots.txt"
    if "download_maxsize" in message:  # a compressed body over the limit once inflated
        return "over the size limit"
    if "redirect" in message:
        return "redirect loop"
    return "ignored: " + (str(exc) or type(exc).__name__)


def describe(failure: Failure) -> str:
    if failure.check(HttpError):
        return f"HTTP {failure.value.response.status}"
    if failure.check(IgnoreRequest):
        return ignored_reason(failure.value)
    for kind, name in _KINDS:
        if failure.check(kind):
            return name
    return type(failure.value).__name__
