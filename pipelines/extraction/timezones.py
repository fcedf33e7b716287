"""Time-zone abbreviations as news pages print them ("10:30 IST", "9 a.m. EST").

An abbreviation names no zone by itself (IST is India, Ireland and Israel): dateutil reads
only UTC and GMT and warns about the rest, then drops the offset. These are the readings a
news page most likely means; the US, European and Asian zones of the wire services, and IST
as India's, by far the largest English-language press that prints it.
"""

from __future__ import annotations

from datetime import timedelta, timezone

_HOURS: dict[str, float] = {
    "UTC": 0, "UT": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 1, "BST": 1, "IST": 5.5,
    "CET": 1, "CEST": 2, "MET": 1, "MEST": 2, "EET": 2, "EEST": 3, "MSK": 3,
    "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
    "AKST": -9, "AKDT": -8, "HST": -10, "AST": -4, "ADT": -3, "NST": -3.5, "NDT": -2.5,
    "BRT": -3, "ART": -3, "SAST": 2, "WAT": 1, "CAT": 2, "EAT": 3, "PKT": 5, "NPT": 5.75,
    "BDT": 6, "ICT": 7, "WIB": 7, "SGT": 8, "HKT": 8, "PHT": 8, "AWST": 8, "JST": 9,
    "KST": 9, "ACST": 9.5, "ACDT": 10.5, "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13,
}

TZINFOS: dict[str, timezone] = {
    name: timezone(timedelta(hours=hours), name) for name, hours in _HOURS.items()
}
