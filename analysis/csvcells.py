"""Spreadsheet-safe CSV text cells (formula injection), shared by the exports and the loader.

A spreadsheet runs a cell that starts with ``= + - @``, a tab or a carriage return as a formula.
Every CSV the web app serves passes its text cells (and header names) through
:func:`neutralise_cell`, which puts an apostrophe in front of such a cell; numbers (also
negative ones, in text or numeric columns) are left alone. :func:`restore_cell` undoes it exactly:
a cell that already starts with apostrophes before a trigger character gets one more, so
``restore_cell(neutralise_cell(s)) == s`` for every string ``s``, and a cell the writer left alone
is never changed by the reader. :func:`analysis.readings.load_readings` restores text columns, so
an exported file analyses the same as the table it came from.
"""

from __future__ import annotations

import re

FORMULA_TRIGGERS = frozenset("=+-@\t\r")
PREFIX = "'"
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _triggers(text: str) -> bool:
    return text.lstrip(PREFIX)[:1] in FORMULA_TRIGGERS


def neutralise_cell(value: object) -> object:
    """``value`` with an apostrophe in front when a spreadsheet would run it; anything else as is."""
    if not isinstance(value, str) or not value or not _triggers(value) or _NUMBER.fullmatch(value):
        return value
    return PREFIX + value


def restore_cell(value: object) -> object:
    """The inverse of :func:`neutralise_cell` on what it wrote."""
    if isinstance(value, str) and value.startswith(PREFIX) and _triggers(value):
        return value[1:]
    return value
