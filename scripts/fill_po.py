"""Fill the msgstr of locale/<lang>/LC_MESSAGES/{django,djangojs}.po from the reviewed JSON sources.

The translations' source of truth is ``locale/translations/<part>_<lang>.json`` (``part``: reader,
staff, ...; ``lang``: zh_Hans, es, de, fr; ``zh-hans`` is read as ``zh_Hans``): one object
``{msgid: msgstr}``, the msgid exactly as extracted (placeholders such as ``%(name)s`` included). A
plural entry's value is a list, one string per plural form of the language (Chinese: one).

Run by ``make messages`` after makemessages and before compilemessages:

    python scripts/fill_po.py [--check]

An entry with a supplied translation gets it and loses its ``fuzzy`` flag; an entry without one keeps
what it had (a translator's edit in the .po survives, a fuzzy guess stays fuzzy and fails the
catalogue test). The header's fuzzy flag is cleared so msgfmt keeps its Plural-Forms. ``--check``
writes nothing and exits 1 when any shipped catalogue has an untranslated or fuzzy entry.

No dependency: a small parser for the subset of the PO format that xgettext writes.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "locale"
SOURCES = [LOCALE / "translations", ROOT / "i18n_work"]
LANGS = ["zh_Hans", "es", "de", "fr"]
DOMAINS = ["django", "djangojs"]


@dataclass
class Entry:
    comments: list[str] = field(default_factory=list)  # "#." "#:" "#," lines, kept as they are
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: list[str] = field(default_factory=lambda: [""])
    obsolete: bool = False

    @property
    def flags(self) -> set[str]:
        out: set[str] = set()
        for line in self.comments:
            if line.startswith("#,"):
                out |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
        return out

    @property
    def fuzzy(self) -> bool:
        return "fuzzy" in self.flags

    def clear_fuzzy(self) -> None:
        kept = []
        for line in self.comments:
            if line.startswith("#,"):
                flags = [flag.strip() for flag in line[2:].split(",") if flag.strip() and flag.strip() != "fuzzy"]
                if not flags:
                    continue
                line = "#, " + ", ".join(flags)
            kept.append(line)
        self.comments = kept

    @property
    def translated(self) -> bool:
        return all(self.msgstr) and not self.fuzzy


def _unquote(text: str) -> str:
    text = text.strip()
    if not (text.startswith('"') and text.endswith('"')):
        raise ValueError(f"not a quoted PO string: {text!r}")
    body = text[1:-1]
    out, i = [], 0
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            out.append(escapes.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t").replace("\r", "\\r")
    if "\n" not in text or text.endswith("\n") and text.count("\n") == 1:
        return '"' + escaped.replace("\n", "\\n") + '"'
    lines = escaped.split("\n")
    parts = [line + "\\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    return '""\n' + "\n".join(f'"{part}"' for part in parts)


def read_po(path: Path) -> list[Entry]:  # noqa: C901 - one branch per PO keyword
    """The entries of a .po file, the header (msgid "") first as xgettext writes it."""
    entries: list[Entry] = []
    current = Entry()
    target: tuple[str, int] | None = None
    started = False

    def flush() -> None:
        nonlocal current, started, target
        if started:
            entries.append(current)
        current, started, target = Entry(), False, None

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        obsolete = line.startswith("#~")
        if obsolete:
            line = line[2:].strip()
        try:
            if not line:
                flush()
            elif line.startswith("#"):
                if started and target is not None and target[0] != "comment":
                    flush()
                current.comments.append(line)
                target = ("comment", 0)
            elif line.startswith("msgctxt "):
                if started and target and target[0] != "comment":
                    flush()
                current.msgctxt, target, started = _unquote(line[8:]), ("msgctxt", 0), True
            elif line.startswith("msgid_plural "):
                current.msgid_plural, target = _unquote(line[13:]), ("msgid_plural", 0)
            elif line.startswith("msgid "):
                if started and target and target[0] not in ("comment", "msgctxt"):
                    flush()
                current.msgid, target, started = _unquote(line[6:]), ("msgid", 0), True
                current.obsolete = obsolete
            elif line.startswith("msgstr["):
                index = int(line[7:line.index("]")])
                while len(current.msgstr) <= index:
                    current.msgstr.append("")
                current.msgstr[index] = _unquote(line[line.index("]") + 1:])
                target = ("msgstr", index)
            elif line.startswith("msgstr "):
                current.msgstr[0], target = _unquote(line[7:]), ("msgstr", 0)
            elif line.startswith('"') and target is not None:
                piece = _unquote(line)
                kind, index = target
                if kind == "msgstr":
                    current.msgstr[index] += piece
                elif kind == "msgid":
                    current.msgid += piece
                elif kind == "msgid_plural":
                    current.msgid_plural = (current.msgid_plural or "") + piece
                elif kind == "msgctxt":
                    current.msgctxt = (current.msgctxt or "") + piece
            else:
                raise ValueError(f"unexpected line: {raw!r}")
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: {exc}") from None
    flush()
    return entries


def write_po(path: Path, entries: list[Entry]) -> None:
    blocks = []
    for entry in entries:
        lines = list(entry.comments)
        prefix = "#~ " if entry.obsolete else ""
        if entry.msgctxt is not None:
            lines.append(f"{prefix}msgctxt {_quote(entry.msgctxt)}")
        lines.append(f"{prefix}msgid {_quote(entry.msgid)}")
        if entry.msgid_plural is not None:
            lines.append(f"{prefix}msgid_plural {_quote(entry.msgid_plural)}")
            lines += [f"{prefix}msgstr[{i}] {_quote(text)}" for i, text in enumerate(entry.msgstr)]
        else:
            lines.append(f"{prefix}msgstr {_quote(entry.msgstr[0])}")
        blocks.append("\n".join(lines))
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")


def nplurals(entries: list[Entry]) -> int:
    header = next((entry for entry in entries if entry.msgid == "" and entry.msgctxt is None), None)
    if header:
        for line in header.msgstr[0].splitlines():
            if line.lower().startswith("plural-forms:") and "nplurals=" in line:
                return int(line.split("nplurals=")[1].split(";")[0].strip())
    return 2


def _lang_of(stem: str) -> str | None:
    for lang in LANGS:
        for spelling in (lang, lang.lower(), lang.lower().replace("_", "-")):
            if stem.endswith("_" + spelling):
                return lang
    return None


def load_translations(sources: list[Path] = SOURCES) -> dict[str, dict[str, str | list[str]]]:
    """{lang: {msgid: msgstr}} from every <part>_<lang>.json in the source folders (later files win)."""
    out: dict[str, dict[str, str | list[str]]] = {lang: {} for lang in LANGS}
    for folder in sources:
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            lang = _lang_of(path.stem)
            if lang is None:
                continue
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"{path}: expected an object {{msgid: msgstr}}")
            for msgid, msgstr in data.items():
                if msgstr:
                    out[lang][msgid] = msgstr
    return out


def fill(path: Path, translations: dict[str, str | list[str]]) -> tuple[int, list[str]]:
    """Fill one catalogue; (entries filled, msgids still untranslated or fuzzy)."""
    entries = read_po(path)
    forms = nplurals(entries)
    filled, missing = 0, []
    for entry in entries:
        if entry.obsolete:
            continue
        if entry.msgid == "" and entry.msgctxt is None:
            entry.clear_fuzzy()
            continue
        supplied = translations.get(entry.msgid)
        if supplied:
            if entry.msgid_plural is not None:
                values = [supplied] if isinstance(supplied, str) else list(supplied)
                values = (values + [values[-1]] * forms)[:forms]
            else:
                values = [supplied if isinstance(supplied, str) else supplied[0]]
            entry.msgstr = values
            entry.clear_fuzzy()
            filled += 1
        if not entry.translated:
            missing.append(entry.msgid)
    write_po(path, entries)
    return filled, missing


def problems(locale: Path = LOCALE) -> dict[str, list[str]]:
    """{catalogue: [msgids untranslated or fuzzy]} for every shipped catalogue (nothing written)."""
    out: dict[str, list[str]] = {}
    for lang in LANGS:
        for domain in DOMAINS:
            path = locale / lang / "LC_MESSAGES" / f"{domain}.po"
            if not path.exists():
                out[str(path)] = ["<catalogue missing>"]
                continue
            bad = [e.msgid for e in read_po(path) if not e.obsolete and e.msgid and not e.translated]
            if bad:
                out[str(path)] = bad
    return out


def main(argv: list[str]) -> int:
    if "--check" in argv:
        found = problems()
        for path, msgids in found.items():
            print(f"{path}: {len(msgids)} untranslated or fuzzy, e.g. {msgids[0]!r}")
        return 1 if found else 0
    translations = load_translations()
    status = 0
    for lang in LANGS:
        for domain in DOMAINS:
            path = LOCALE / lang / "LC_MESSAGES" / f"{domain}.po"
            if not path.exists():
                print(f"{path}: missing (run makemessages first)")
                status = 1
                continue
            filled, missing = fill(path, translations[lang])
            print(f"{path.relative_to(ROOT)}: {filled} filled, {len(missing)} untranslated or fuzzy")
            for msgid in missing[:20]:
                print(f"  missing: {msgid!r}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
