"""Bytes of a response to the text of an HTML page, when they are one."""

from __future__ import annotations

from scrapy.http import Response, TextResponse

_CONTROL = bytes([*range(9), *range(14, 32)])  # control bytes that text never holds
_LATIN = {"iso-8859-1", "latin-1", "latin1", "ascii", "us-ascii", "cp1252", "windows-1252"}


class BinaryBody(ValueError):
    """The body is empty or is not text; the message is the reason the page is skipped."""


def decode_html(response: Response) -> str:
    body = response.body
    if not body.strip():
        raise BinaryBody("empty body")
    if not isinstance(response, TextResponse):
        raise BinaryBody("not HTML")
    head = body[:4096]
    if b"\x00" in head or len(head) - len(head.translate(None, _CONTROL)) > len(head) // 20:
        raise BinaryBody("binary body")
    encoding = (response.encoding or "").lower()
    if encoding in _LATIN and any(b > 127 for b in body):
        # A Latin-1 label on bytes that decode as UTF-8 is almost always a wrong label:
        # real Latin-1 text with accents is practically never valid UTF-8.
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return response.text
