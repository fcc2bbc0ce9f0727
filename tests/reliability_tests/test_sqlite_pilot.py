"""The zero-setup default (SQLite) holds readers submitting at the same time: no "database is locked".

Runs bench/pilot.py's pilot on a real server process (``make demo``'s runserver) with the default
settings on a fresh SQLite file: 5 readers released together, each submitting 4 answers as fast as
it can. Before WAL + BEGIN IMMEDIATE about a third of such submits answered 503.
"""

from __future__ import annotations

import pytest

from bench.pilot import pilot

pytestmark = pytest.mark.slow


def test_concurrent_submits_on_default_sqlite_do_not_fail():
    result = pilot(readers=5, submits=4, server_kind="runserver")
    assert result.errors == {}, result.line()
    assert result.submits == 20 and result.failed_submits == 0 and result.failed_pages == 0
    assert result.readings_stored == 20  # every acknowledged submit is a stored reading
