"""The taxonomy file formats (JSON and CSV): validate, normalise, read and write. No database.

The two file formats carry the same content (see ``taxonomy_to_dict``):

* JSON ``{"name", "version", "description", "management_options": [{code, label}],
  "conditions": [{code, name, synonyms, group, malignant, icd10, management: {option: rating}}]}``.
* CSV, one row per condition: ``code,name,synonyms,group,malignant,icd10`` then one column per
  management option code holding the rating; synonyms joined with "|", malignant 1/0. Optional
  leading ``# key: value`` lines carry name, version, description and management_options (values
  JSON-encoded when written by ``taxonomy_export``; plain text is accepted too).

Translations: English is ``name``/``synonyms`` (``label`` for an option). Other languages go in an
optional ``translations`` object per condition and per option, keyed by language code
(``zh-hans``, ``es``, ``de``, ``fr``, ...): ``{"name", "synonyms", "status"}`` for a condition,
``{"label", "status"}`` for an option, where status is ``machine_drafted`` or ``reviewed`` and a
reviewed one also has ``reviewer`` and ``reviewed_on`` (YYYY-MM-DD). In the CSV each language has
the columns ``name_<lang>, synonyms_<lang>, status_<lang>, reviewer_<lang>, reviewed_on_<lang>``
after ``icd10`` (options keep theirs in the ``# management_options:`` line). Codes never change
with language. The text of a translation is part of the taxonomy version (change it under a new
version); its review status is not: ``translation_mark_reviewed`` records a clinician's review.

Long module: one file format with every rule it checks; each rule sits beside the message that
names the row and field it refuses, and reading and writing share the column definitions.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import IO, Any

from catalog.models import (
    Appropriateness,
    Condition,
    ConditionGroup,
    ManagementOption,
    Taxonomy,
)
from catalog.models.taxonomy import TranslationStatus

CSV_CONDITION_COLUMNS = ["code", "name", "synonyms", "group", "malignant", "icd10"]


CSV_META_KEYS = ("name", "version", "description", "management_options")


SYNONYM_SEPARATOR = "|"


STANDARD_OPTION_LABELS = {
    "reassure": "Reassure / dismiss",
    "monitor": "Monitor",
    "treat_locally": "Treat locally",
    "biopsy_excise": "Biopsy / excise",
    "refer": "Refer",
}


CSV_TRANSLATION_RE = re.compile(r"^(name|synonyms|status|reviewer|reviewed_on)_([a-z]{2,3}(?:-[a-z0-9]{2,8})*)$")


CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


# The reader's "Other / not listed" diagnosis: its own code in a reading's differential, with the
# reader's words in Reading.other_text; reserved, so it never means a taxonomy condition.
OTHER_CODE = "OTHER"


OTHER_LABEL = "Other / not listed"


OTHER_TEXT_MAX = 200


# WHO ICD-10 category (A00) optionally with a subcategory (A00.1); ICD-10-CM style extensions allowed.
ICD10_RE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")


CONDITION_FIELDS = {"code", "name", "synonyms", "group", "malignant", "icd10", "management", "translations"}


# The languages the shipped default carries, in the order exports list them; others are accepted.
TRANSLATION_LANGUAGES = ("zh-hans", "es", "de", "fr")


LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")


TRANSLATION_STATUSES = tuple(TranslationStatus.values)


REVIEW_FIELDS = ("status", "reviewer", "reviewed_on")


DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


CSV_TRANSLATION_FIELDS = ("name", "synonyms", "status", "reviewer", "reviewed_on")


REQUIRED_CONDITION_FIELDS = ("code", "name", "group", "malignant", "management")


TOP_LEVEL_FIELDS = {"name", "version", "description", "management_options", "conditions"}


GROUPS = set(ConditionGroup.values)


GROUPS_ORDERED = list(ConditionGroup.values)


RATINGS = set(Appropriateness.values)


MAX_LEN = {
    "taxonomy.name": Taxonomy._meta.get_field("name").max_length,
    "taxonomy.version": Taxonomy._meta.get_field("version").max_length,
    "option.code": ManagementOption._meta.get_field("code").max_length,
    "option.label": ManagementOption._meta.get_field("label").max_length,
    "condition.code": Condition._meta.get_field("code").max_length,
    "condition.name": Condition._meta.get_field("name").max_length,
    "condition.icd10": Condition._meta.get_field("icd10").max_length,
}


class TaxonomyError(ValueError):
    """A taxonomy that cannot be loaded; ``problems`` lists every reason, each naming row and field."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        count = len(self.problems)
        header = f"{count} problem{'s' if count != 1 else ''} in taxonomy"
        super().__init__(header + ":\n" + "\n".join(f"- {p}" for p in self.problems))


def _check_text(
    problems: list[str], where: str, field: str, value: Any, *, limit: int | None, required: bool = True
) -> None:
    if value is None or value == "":
        if required:
            problems.append(f"{where}: missing field '{field}'")
        return
    if not isinstance(value, str):
        problems.append(f"{where}: field '{field}' must be text, got {type(value).__name__}")
    elif not value.strip():
        problems.append(f"{where}: field '{field}' is blank")
    elif limit is not None and len(value) > limit:
        problems.append(f"{where}: field '{field}' is longer than {limit} characters")


def _validate_translations(
    where: str, value: Any, problems: list[str], *, text_field: str, limit: int | None
) -> None:
    """Problems with a ``translations`` object (``text_field``: name for a condition, label for an option)."""
    if value in (None, {}):
        return
    if not isinstance(value, dict):
        problems.append(f"{where}: field 'translations' must map a language code to its translation")
        return
    allowed = {text_field, *REVIEW_FIELDS} | ({"synonyms"} if text_field == "name" else set())
    for language, entry in value.items():
        if not isinstance(language, str) or not LANGUAGE_RE.match(language) or language == "en":
            problems.append(
                f"{where}: field 'translations' has bad language code {language!r} "
                "(lower case like zh-hans or es; English is the name itself)"
            )
            continue
        field = f"translations.{language}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: field '{field}' must be an object with {text_field} and status")
        else:
            _validate_translation_entry(where, field, entry, problems, allowed=allowed, text_field=text_field,
                                        limit=limit)


def _validate_translation_entry(where: str, field: str, entry: dict, problems: list[str], *, allowed: set[str],
                                text_field: str, limit: int | None) -> None:
    for key in sorted(set(entry) - allowed):
        problems.append(f"{where}: unknown field '{field}.{key}'")
    _check_text(problems, where, f"{field}.{text_field}", entry.get(text_field), limit=limit)
    if text_field == "name":
        synonyms = entry.get("synonyms", [])
        if not isinstance(synonyms, list) or not all(isinstance(x, str) and x.strip() for x in synonyms):
            problems.append(f"{where}: field '{field}.synonyms' must be a list of non-empty texts")
        elif any(SYNONYM_SEPARATOR in x for x in synonyms):
            problems.append(f"{where}: field '{field}.synonyms' may not contain '{SYNONYM_SEPARATOR}'")
    status = entry.get("status") or TranslationStatus.MACHINE_DRAFTED
    if status not in TRANSLATION_STATUSES:
        problems.append(
            f"{where}: field '{field}.status' bad status {status!r} "
            f"(expected one of {', '.join(TRANSLATION_STATUSES)})"
        )
    elif status == TranslationStatus.REVIEWED:
        _check_text(problems, where, f"{field}.reviewer", entry.get("reviewer"), limit=200)
        reviewed_on = entry.get("reviewed_on")
        if not isinstance(reviewed_on, str) or not DATE_RE.match(reviewed_on):
            problems.append(f"{where}: field '{field}.reviewed_on' must be a date YYYY-MM-DD when reviewed")
    elif entry.get("reviewer") or entry.get("reviewed_on"):
        problems.append(f"{where}: field '{field}' has a reviewer or date but status {status!r}")


def ordered_languages(languages: Any) -> list[str]:
    present = set(languages)
    return [lang for lang in TRANSLATION_LANGUAGES if lang in present] + sorted(present - set(TRANSLATION_LANGUAGES))


def _normal_translations(value: Any, text_field: str) -> dict[str, dict]:
    """Canonical translations: languages in shipped order, fields in a fixed order, status explicit."""
    out: dict[str, dict] = {}
    for language in ordered_languages(value or {}):
        entry = value[language]
        normal: dict[str, Any] = {text_field: entry[text_field]}
        if text_field == "name":
            normal["synonyms"] = list(entry.get("synonyms") or [])
        normal["status"] = entry.get("status") or TranslationStatus.MACHINE_DRAFTED
        if normal["status"] == TranslationStatus.REVIEWED:
            normal["reviewer"] = entry["reviewer"]
            normal["reviewed_on"] = entry["reviewed_on"]
        out[language] = normal
    return out


def without_review(content: dict) -> dict:
    """The content with review metadata dropped: what a taxonomy version fixes."""

    def strip(rows: list[dict]) -> list[dict]:
        return [
            {**row, "translations": {
                lang: {k: v for k, v in entry.items() if k not in REVIEW_FIELDS}
                for lang, entry in row["translations"].items()
            }} if "translations" in row else row
            for row in rows
        ]

    return {**content, "management_options": strip(content["management_options"]),
            "conditions": strip(content["conditions"])}


def _validate_options(options: Any, problems: list[str]) -> list[str]:
    """Problems with management_options; returns the valid option codes in order."""
    if not isinstance(options, list) or not options:
        problems.append("management_options: must be a non-empty list of {code, label}")
        return []
    codes: list[str] = []
    for index, option in enumerate(options, start=1):
        where = f"management option {index}"
        if not isinstance(option, dict):
            problems.append(f"{where}: must be an object with code and label")
            continue
        code = option.get("code")
        if isinstance(code, str) and code:
            where = f"management option {code} (row {index})"
        _check_text(problems, where, "code", code, limit=MAX_LEN["option.code"])
        _check_text(problems, where, "label", option.get("label"), limit=MAX_LEN["option.label"])
        for key in sorted(set(option) - {"code", "label", "translations"}):
            problems.append(f"{where}: unknown field '{key}'")
        _validate_translations(
            where, option.get("translations"), problems, text_field="label", limit=MAX_LEN["option.label"]
        )
        if isinstance(code, str) and code:
            if not CODE_RE.match(code):
                problems.append(f"{where}: field 'code' {code!r} may hold only letters, digits, _ . -")
            if code in codes:
                problems.append(f"{where}: duplicate management option code {code!r}")
            else:
                codes.append(code)
    return codes


def _validate_matrix(where: str, management: Any, option_codes: list[str], problems: list[str]) -> None:
    if not isinstance(management, dict):
        problems.append(f"{where}: field 'management' must map each management option to a rating")
        return
    missing = [code for code in option_codes if code not in management]
    if missing:
        problems.append(f"{where}: field 'management' incomplete matrix, no rating for {', '.join(missing)}")
    for option, rating in management.items():
        if option not in option_codes:
            problems.append(f"{where}: field 'management' names unknown management option {option!r}")
        elif rating not in RATINGS:
            problems.append(
                f"{where}: field 'management.{option}' bad rating {rating!r} "
                f"(expected one of {', '.join(Appropriateness.values)})"
            )


def _validate_code(where: str, code: Any, seen: set[str], problems: list[str]) -> None:
    if code in (None, ""):
        return  # reported as a missing field
    if not isinstance(code, str):
        problems.append(f"{where}: field 'code' must be text")
        return
    _check_text(problems, where, "code", code, limit=MAX_LEN["condition.code"])
    if not CODE_RE.match(code):
        problems.append(f"{where}: field 'code' {code!r} may hold only letters, digits, _ . -")
    if code.upper() == OTHER_CODE:
        problems.append(f"{where}: field 'code' {code!r} is reserved for the readers' \"{OTHER_LABEL}\" answer")
    if code in seen:
        problems.append(f"{where}: duplicate condition code {code!r}")
    seen.add(code)


def _validate_condition_fields(where: str, row: dict, problems: list[str]) -> None:
    if row.get("name") not in (None, ""):
        _check_text(problems, where, "name", row["name"], limit=MAX_LEN["condition.name"])
    group = row.get("group")
    if group not in (None, "") and group not in GROUPS:
        problems.append(
            f"{where}: field 'group' unknown group {group!r} (expected one of {', '.join(GROUPS_ORDERED)})"
        )
    malignant = row.get("malignant")
    if malignant not in (None, "") and not isinstance(malignant, bool):
        problems.append(f"{where}: field 'malignant' must be true or false, got {malignant!r}")
    synonyms = row.get("synonyms", [])
    if not isinstance(synonyms, list) or not all(isinstance(s, str) and s.strip() for s in synonyms):
        problems.append(f"{where}: field 'synonyms' must be a list of non-empty texts")
    elif any(SYNONYM_SEPARATOR in s for s in synonyms):
        problems.append(f"{where}: field 'synonyms' may not contain '{SYNONYM_SEPARATOR}'")
    icd10 = row.get("icd10", "")
    if icd10 not in (None, "") and (
        not isinstance(icd10, str) or not ICD10_RE.match(icd10) or len(icd10) > MAX_LEN["condition.icd10"]
    ):
        problems.append(f"{where}: field 'icd10' {icd10!r} is not an ICD-10 code like L40.0")


def _validate_condition(
    index: int, row: Any, option_codes: list[str], seen: set[str], problems: list[str]
) -> None:
    where = f"condition row {index}"
    if not isinstance(row, dict):
        problems.append(f"{where}: must be an object")
        return
    code = row.get("code")
    if isinstance(code, str) and code:
        where = f"condition {code} (row {index})"
    for field in REQUIRED_CONDITION_FIELDS:
        if row.get(field) in (None, ""):
            problems.append(f"{where}: missing field '{field}'")
    for key in sorted(set(row) - CONDITION_FIELDS):
        problems.append(f"{where}: unknown field '{key}'")
    _validate_code(where, code, seen, problems)
    _validate_condition_fields(where, row, problems)
    if row.get("management") not in (None, ""):
        _validate_matrix(where, row["management"], option_codes, problems)
    _validate_translations(
        where, row.get("translations"), problems, text_field="name", limit=MAX_LEN["condition.name"]
    )


def taxonomy_validate(data: Any) -> list[str]:
    """Every problem with a taxonomy dict, each naming the condition (code and row) and field."""
    if not isinstance(data, dict):
        return ["taxonomy: must be an object with name, version, management_options and conditions"]
    problems: list[str] = []
    _check_text(problems, "taxonomy", "name", data.get("name"), limit=MAX_LEN["taxonomy.name"])
    _check_text(problems, "taxonomy", "version", data.get("version"), limit=MAX_LEN["taxonomy.version"])
    if not isinstance(data.get("description", ""), str):
        problems.append("taxonomy: field 'description' must be text")
    for key in sorted(set(data) - TOP_LEVEL_FIELDS):
        problems.append(f"taxonomy: unknown field '{key}'")
    option_codes = _validate_options(data.get("management_options"), problems)
    conditions = data.get("conditions")
    if not isinstance(conditions, list) or not conditions:
        problems.append("conditions: must be a non-empty list")
        return problems
    seen: set[str] = set()
    for index, row in enumerate(conditions, start=1):
        _validate_condition(index, row, option_codes, seen, problems)
    return problems


def normalise_content(data: dict) -> dict:
    """The canonical content of a valid taxonomy dict (same shape as ``taxonomy_to_dict``)."""
    options = [with_translations({"code": o["code"], "label": o["label"]}, o, "label")
               for o in data["management_options"]]
    option_codes = [o["code"] for o in options]
    return {
        "name": data["name"],
        "version": data["version"],
        "description": data.get("description") or "",
        "management_options": options,
        "conditions": [
            {
                "code": row["code"],
                "name": row["name"],
                "synonyms": list(row.get("synonyms") or []),
                "group": row["group"],
                "malignant": row["malignant"],
                "icd10": row.get("icd10") or "",
                "management": {code: row["management"][code] for code in option_codes},
            } | translations_part(row, "name")
            for row in data["conditions"]
        ],
    }


def translations_part(row: dict, text_field: str) -> dict:
    translations = _normal_translations(row.get("translations"), text_field)
    return {"translations": translations} if translations else {}


def with_translations(base: dict, row: dict, text_field: str) -> dict:
    return base | translations_part(row, text_field)


def content_differences(old: dict, new: dict) -> list[str]:
    """Short description of what differs between two canonical taxonomies."""
    diffs = [key for key in ("description", "management_options") if old[key] != new[key]]
    old_rows = {row["code"]: row for row in old["conditions"]}
    new_rows = {row["code"]: row for row in new["conditions"]}
    added = [code for code in new_rows if code not in old_rows]
    removed = [code for code in old_rows if code not in new_rows]
    changed = [code for code in new_rows if code in old_rows and new_rows[code] != old_rows[code]]
    if added:
        diffs.append(f"conditions added: {', '.join(added[:10])}")
    if removed:
        diffs.append(f"conditions removed: {', '.join(removed[:10])}")
    if changed:
        diffs.append(f"conditions changed: {', '.join(changed[:10])}")
    if not (added or removed or changed) and old["conditions"] != new["conditions"]:
        diffs.append("condition order")
    return diffs


def _read_text(source: str | Path | IO[str]) -> str:
    if hasattr(source, "read"):
        return source.read()  # type: ignore[union-attr]
    return Path(source).read_text(encoding="utf-8-sig")


def _split_meta(text: str) -> tuple[dict[str, Any], str]:
    """Leading ``# key: value`` lines (values JSON or plain text) and the CSV text after them."""
    meta: dict[str, Any] = {}
    lines = text.splitlines(keepends=True)
    body_start = 0
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#"):
            key, sep, value = stripped.lstrip("#").partition(":")
            if sep and key.strip() in CSV_META_KEYS:
                meta[key.strip()] = _meta_value(value.strip())
        elif stripped:
            break
        body_start += 1
    return meta, "".join(lines[body_start:])


def _meta_value(value: str) -> Any:
    """JSON-encoded text, list or object as written by the export; anything else verbatim (``1.10``)."""
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, str | list | dict) else value


def _parse_bool(value: str) -> bool | str:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "y"}:
        return True
    if lowered in {"0", "false", "no", "n"}:
        return False
    return value  # left for validation to report


def _read_matrix(source: str | Path | IO[str]) -> dict[str, dict[str, str]]:
    """A long-format matrix CSV: condition,management,rating."""
    matrix: dict[str, dict[str, str]] = {}
    for row in csv.DictReader(io.StringIO(_read_text(source))):
        condition = (row.get("condition") or "").strip()
        if condition:
            matrix.setdefault(condition, {})[(row.get("management") or "").strip()] = (
                row.get("rating") or ""
            ).strip()
    return matrix


def taxonomy_from_csv(
    source: str | Path | IO[str],
    matrix: str | Path | IO[str] | None = None,
    *,
    name: str | None = None,
    version: str | None = None,
    description: str | None = None,
    management_options: list[dict] | None = None,
) -> dict:
    """Read a conditions CSV (and optionally a separate long-format matrix CSV) into a taxonomy dict.

    Management options are the columns after ``icd10`` unless ``management_options`` or a
    ``# management_options:`` line names them; keyword arguments override the ``#`` lines.
    The result is not validated here: pass it to ``taxonomy_load``.
    """
    meta, body = _split_meta(_read_text(source))
    reader = csv.DictReader(io.StringIO(body))
    header = [column.strip() for column in (reader.fieldnames or [])]
    rows = [{(k or "").strip(): (v or "") for k, v in row.items()} for row in reader]
    options = management_options or meta.get("management_options")
    if not isinstance(options, list):
        extra = [
            column for column in header
            if column not in CSV_CONDITION_COLUMNS and not CSV_TRANSLATION_RE.match(column)
        ]
        if not extra and matrix is not None:
            extra = list(STANDARD_OPTION_LABELS)
        options = [
            {"code": code, "label": STANDARD_OPTION_LABELS.get(code, code.replace("_", " ").capitalize())}
            for code in extra
        ]
    option_codes = [o.get("code") for o in options if isinstance(o, dict)]
    ratings_by_code = _read_matrix(matrix) if matrix is not None else {}
    conditions = []
    for row in rows:
        condition: dict[str, Any] = {}
        for column in CSV_CONDITION_COLUMNS:
            if column in header:
                condition[column] = row.get(column, "").strip()
        if "synonyms" in condition:
            condition["synonyms"] = [
                s.strip() for s in condition["synonyms"].split(SYNONYM_SEPARATOR) if s.strip()
            ]
        if "malignant" in condition and condition["malignant"] != "":
            condition["malignant"] = _parse_bool(condition["malignant"])
        ratings = {
            code: row[code].strip() for code in option_codes if code in header and row.get(code, "").strip()
        }
        ratings.update(ratings_by_code.get(condition.get("code", ""), {}))
        condition["management"] = ratings
        translations = _csv_translations(header, row)
        if translations:
            condition["translations"] = translations
        conditions.append(condition)
    return {
        "name": name if name is not None else meta.get("name", ""),
        "version": version if version is not None else str(meta.get("version", "")),
        "description": description if description is not None else meta.get("description", ""),
        "management_options": options,
        "conditions": conditions,
    }


def _csv_translations(header: list[str], row: dict[str, str]) -> dict[str, dict]:
    """The ``name_<lang>``, ``synonyms_<lang>``, ... columns of one CSV row; empty languages left out."""
    translations: dict[str, dict] = {}
    for column in header:
        match = CSV_TRANSLATION_RE.match(column)
        value = (row.get(column) or "").strip()
        if not match or not value:
            continue
        field, language = match.groups()
        entry = translations.setdefault(language, {})
        if field == "synonyms":
            entry["synonyms"] = [x.strip() for x in value.split(SYNONYM_SEPARATOR) if x.strip()]
        else:
            entry[field] = value
    return translations


def taxonomy_read_file(path: str | Path, **overrides: Any) -> dict:
    """A taxonomy dict from a .json or .csv file (``overrides`` as for ``taxonomy_from_csv``)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return taxonomy_from_csv(path, **overrides)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise TaxonomyError([f"{path.name}: not valid JSON ({exc})"]) from None
    if isinstance(data, dict):
        data.update({k: v for k, v in overrides.items() if v is not None and k in TOP_LEVEL_FIELDS})
    return data


def taxonomy_dumps(content: dict) -> str:
    """JSON text with one line per field of each condition: readable and diff-friendly."""

    def line(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    out = ["{"]
    for key in ("name", "version", "description"):
        out.append(f"  {line(key)}: {line(content[key])},")
    out.append('  "management_options": [')
    options = content["management_options"]
    out.extend(f"    {line(o)}{',' if i < len(options) - 1 else ''}" for i, o in enumerate(options))
    out.append("  ],")
    out.append('  "conditions": [')
    conditions = content["conditions"]
    for i, condition in enumerate(conditions):
        fields = [f"      {line(key)}: {line(value)}" for key, value in condition.items()]
        out.append("    {\n" + ",\n".join(fields) + "\n    }" + ("," if i < len(conditions) - 1 else ""))
    out.append("  ]")
    out.append("}")
    return "\n".join(out) + "\n"


def taxonomy_csv(content: dict) -> str:
    buffer = io.StringIO()
    for key in CSV_META_KEYS:
        buffer.write(f"# {key}: {json.dumps(content[key], ensure_ascii=False)}\n")
    option_codes = [o["code"] for o in content["management_options"]]
    languages = ordered_languages({lang for row in content["conditions"] for lang in row.get("translations", {})})
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        CSV_CONDITION_COLUMNS + option_codes
        + [f"{field}_{lang}" for lang in languages for field in CSV_TRANSLATION_FIELDS]
    )
    for row in content["conditions"]:
        translated = []
        for lang in languages:
            entry = row.get("translations", {}).get(lang, {})
            translated += [entry.get("name", ""), SYNONYM_SEPARATOR.join(entry.get("synonyms", [])),
                           entry.get("status", ""), entry.get("reviewer", ""), entry.get("reviewed_on", "")]
        writer.writerow(
            [
                row["code"],
                row["name"],
                SYNONYM_SEPARATOR.join(row["synonyms"]),
                row["group"],
                "1" if row["malignant"] else "0",
                row["icd10"],
            ]
            + [row["management"].get(code, "") for code in option_codes]
            + translated
        )
    return buffer.getvalue()
