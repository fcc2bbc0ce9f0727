"""The case page's diagnosis search (static/readerstudy/search.js), run in Node.js on the shipped
taxonomy: typo tolerance, own-name and generic-condition ranking, codes, exclusions."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_service

ROOT = Path(__file__).resolve().parents[2]
SEARCH_JS = ROOT / "static" / "readerstudy" / "search.js"
TAXONOMY = ROOT / "catalog" / "data" / "taxonomy_default.json"
RUNNER = """
const S = require(process.argv[1]);
const taxonomy = require(process.argv[2]);
const entries = S.prepare(taxonomy.conditions);
const out = {};
for (const [query, exclude] of JSON.parse(process.argv[3])) {
  out[query + "|" + exclude.join(",")] = S.search(entries, query, new Set(exclude), 8).map(h => h.c.code);
}
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def search():
    node = shutil.which("node")
    if node is None:
        require_service("Node.js", False, "apt-get install nodejs (runs the page's search code)")

    def run(*queries: str | tuple[str, list[str]]) -> dict[str, list[str]]:
        pairs = [(q, []) if isinstance(q, str) else q for q in queries]
        done = subprocess.run([node, "-e", RUNNER, str(SEARCH_JS), str(TAXONOMY), json.dumps(pairs)],
                              capture_output=True, text=True, check=True, timeout=60)
        found = json.loads(done.stdout)
        return {key.split("|")[0] if not key.endswith("|") else key[:-1]: codes for key, codes in found.items()}

    return run


def test_a_typo_still_finds_the_condition(search):
    found = search("ekzema", "psoraisis", "melanome", "ekze")
    assert found["ekzema"][0] == "AD"  # "eczema" is a synonym of atopic dermatitis
    assert {"NUM", "STASIS"} <= set(found["ekzema"])  # and every "... eczema" by name
    assert found["psoraisis"][0] == "PSO"  # two letters swapped
    assert found["melanome"][0] == "MEL"
    assert "NUM" in found["ekze"]  # while still typing


def test_own_name_and_the_generic_condition_rank_first(search):
    found = search("naevus", "naev", "nevus", "eczema", "mole", "kerat")
    assert found["naevus"][0] == "NEV"  # not Atypical (dysplastic) naevus, first in taxonomy order
    assert found["naev"][0] == "NEV"
    assert found["nevus"][0] == "NEV"
    assert found["naevus"].index("SPIDER_NAEVUS") > found["naevus"].index("NEV")
    assert found["eczema"][0] == "AD"  # a synonym that is the whole query
    assert found["mole"][0] == "NEV"
    # a name that starts with the query beats one that only contains the word
    assert found["kerat"].index("KP") < found["kerat"].index("AK")


def test_codes_exclusions_and_no_false_hits(search):
    found = search("bcc", ("naevus", ["NEV"]), "xyzzy", "sk")
    assert found["bcc"] == ["BCC"]
    assert "NEV" not in found["naevus"] and found["naevus"]  # already chosen in another box
    assert found["xyzzy"] == []  # nothing: the page then offers only "Other / not listed"
    assert found["sk"][0] == "SK"
