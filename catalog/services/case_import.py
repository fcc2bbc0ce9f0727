"""Case import: a CSV or JSON manifest plus an image folder or zip, all-or-nothing and re-runnable.

Every problem is collected with its row and field before anything is written; an import with any
problem saves nothing. Importing the same manifest and images again is a no-op.

Long module: one all-or-nothing transaction: parsing, every check that reports a row's problem,
image preparation and the write share one staged model of the import, and splitting them would pass
that model around.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.db import transaction

from analysis.csvcells import neutralise_cell, restore_cell
from catalog.languages import CASE_TEXT_FIELDS, STUDY_LANGUAGES, normalize_language
from catalog.models import Case, CaseImage, CaseSet, ConditionGroup, ImageRole, ReferenceSource, Sex, Taxonomy
from catalog.services.images import ImageProblem, PreparedImage, prepare_image, store_prepared
from common.audit import audit_record

MAX_COMPRESSION_RATIO = 200  # a zip member expanding more than this is treated as a bomb
CSV_IMAGE_COLUMNS = {"clinical_image": "clinical", "dermoscopic_image": "dermoscopic", "other_image": "other"}
METADATA_FIELDS = ("age", "sex", "body_site", "fitzpatrick", "duration", "history")


@dataclass(frozen=True)
class Problem:
    row: int | None  # 1-based data row in the manifest (CSV header is row 0); None for file-level
    field: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "manifest"
        return f"{where}, {self.field}: {self.message}"


class CaseImportError(ValueError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s); nothing was imported:\n" + "\n".join(map(str, problems)))


@dataclass
class ImportReport:
    case_set: CaseSet
    created: bool
    n_cases: int
    n_images: int
    messages: list[str] = field(default_factory=list)


@dataclass
class _ImageSpec:
    path: str
    role: str
    row: int
    field: str


@dataclass
class _CaseSpec:
    row: int
    key: str
    values: dict[str, Any]
    images: list[_ImageSpec]
    reference_code: str
    reference_source: str
    reference_management: str


# ---------------------------------------------------------------- manifest parsing


def read_manifest(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV (header) or JSON (a list, or {"cases": [...]}) manifest."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseImportError([Problem(None, str(path.name), f"cannot read manifest: {exc}")]) from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CaseImportError([Problem(None, path.name, f"invalid JSON: {exc}")]) from exc
        except RecursionError as exc:
            raise CaseImportError([Problem(None, "manifest", "the JSON is nested too deeply to be a manifest")]) from exc
        rows = data.get("cases") if isinstance(data, dict) else data
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise CaseImportError([Problem(None, path.name, 'expected a list of cases or {"cases": [...]}')])
    elif path.suffix.lower() != ".csv":
        raise CaseImportError([Problem(None, path.name, "manifest must be .csv or .json")])
    else:
        try:
            # Cells neutralised by our CSV writer (a template, an export) read back as written.
            rows = [{key: restore_cell(value) for key, value in row.items()}
                    for row in csv.DictReader(io.StringIO(text))]
        except csv.Error as exc:  # e.g. a field over the csv module's size limit
            raise CaseImportError([Problem(None, "manifest", f"not a readable CSV file ({exc})")]) from exc
    nul = [Problem(number, str(name), "contains a NUL character (\\x00), which cannot be stored")
           for number, row in enumerate(rows, start=1) for name, value in _strings(row) if "\x00" in value]
    if nul:
        raise CaseImportError(nul[:MAX_NUL_PROBLEMS])
    return rows


MAX_NUL_PROBLEMS = 50


def _strings(value: Any, name: str = "", depth: int = 0) -> Iterator[tuple[str, str]]:
    """(field, text) for every string in a manifest row, keys included (nested lists and objects too)."""
    if depth > 20:
        return
    if isinstance(value, str):
        yield name, value
    elif isinstance(value, dict):
        for key, item in value.items():
            field = f"{name}.{key}" if name else str(key)
            yield from _strings(key, field, depth + 1) if isinstance(key, str) else ()
            yield from _strings(item, field, depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{name}[{i}]", depth + 1)


def _images_of(row: dict[str, Any], number: int, problems: list[Problem]) -> list[_ImageSpec]:
    specs: list[_ImageSpec] = []
    if isinstance(row.get("images"), list):  # JSON: [{"file": ..., "role": ...}]
        for i, item in enumerate(row["images"]):
            if not isinstance(item, dict) or not item.get("file"):
                problems.append(Problem(number, f"images[{i}]", "needs a file"))
                continue
            specs.append(_ImageSpec(str(item["file"]), str(item.get("role", "clinical")), number, f"images[{i}]"))
    elif isinstance(row.get("images"), str) and row["images"].strip():  # CSV: role:file|role:file
        for i, part in enumerate(row["images"].split("|")):
            role, _, name = part.strip().rpartition(":")
            specs.append(_ImageSpec(name, role or "clinical", number, f"images[{i}]"))
    for column, role in CSV_IMAGE_COLUMNS.items():
        for name in str(row.get(column) or "").split("|"):
            if name.strip():
                specs.append(_ImageSpec(name.strip(), role, number, column))
    if not specs:
        problems.append(Problem(number, "images", "a case needs at least one image"))
    valid_roles = set(ImageRole.values)
    for spec in specs:
        if spec.role not in valid_roles:
            problems.append(Problem(number, spec.field, f"unknown role {spec.role!r}; use one of {_choices(ImageRole)}"))
    return specs


def _int_or_none(value: Any, number: int, name: str, lo: int, hi: int, problems: list[Problem]) -> int | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        parsed = int(str(value).strip())
    except ValueError:
        problems.append(Problem(number, name, f"{value!r} is not a whole number"))
        return None
    if not lo <= parsed <= hi:
        problems.append(Problem(number, name, f"{parsed} is outside {lo}-{hi}"))
    return parsed


def _roman_fitzpatrick(value: Any) -> Any:
    roman = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6}
    return roman.get(str(value).strip().upper(), value)


def _parse_row(row: dict[str, Any], number: int, problems: list[Problem]) -> _CaseSpec | None:
    key = str(row.get("case_id") or row.get("id") or "").strip()
    if not key:
        problems.append(Problem(number, "case_id", "missing"))
    reference = row.get("reference") if isinstance(row.get("reference"), dict) else {}
    code = str(reference.get("code") or row.get("reference_code") or "").strip()
    source = str(reference.get("source") or row.get("reference_source") or "").strip()
    if not code:
        problems.append(Problem(number, "reference_code", "missing"))
    if source not in ReferenceSource.values:
        problems.append(Problem(number, "reference_source",
                                f"{source!r} is not one of the reference sources: {_choices(ReferenceSource)}"
                                if source else f"missing; use one of {_choices(ReferenceSource)}"))
    sex = str(row.get("sex") or "U").strip().upper()[:1]
    if sex not in Sex.values:
        problems.append(Problem(number, "sex", f"{row.get('sex')!r} is not a sex code; use one of {_choices(Sex)}"))
    values = {
        "age": _int_or_none(row.get("age"), number, "age", 0, 130, problems),
        "fitzpatrick": _int_or_none(_roman_fitzpatrick(row.get("fitzpatrick")), number, "fitzpatrick", 1, 6, problems),
        "sex": sex,
        "body_site": str(row.get("body_site") or "").strip()[:100],
        "duration": str(row.get("duration") or "").strip()[:100],
        "history": str(row.get("history") or "").strip(),
        "translations": _translations_of(row, number, problems),
    }
    images = _images_of(row, number, problems)
    management = str(row.get("reference_management") or "").strip()
    return _CaseSpec(number, key, values, images, code, source, management) if key else None


TEXT_LIMITS = {"history": None, "body_site": 100, "duration": 100}


def _translations_of(row: dict[str, Any], number: int, problems: list[Problem]) -> dict[str, dict[str, str]]:
    """Case text per language from ``history_<lang>``, ``body_site_<lang>``, ``duration_<lang>``
    (``history_zh`` or ``history_zh-hans`` for Simplified Chinese); an unknown language is a problem."""
    found: dict[str, dict[str, str]] = {}
    for column, raw in row.items():
        name = str(column)
        base = next((f for f in CASE_TEXT_FIELDS if name.startswith(f + "_") and len(name) > len(f) + 1), None)
        if base is None:
            continue
        text = str(raw or "").strip() if not isinstance(raw, (dict, list)) else None
        suffix = name[len(base) + 1:]
        language = normalize_language(suffix)
        if language is None:
            if text != "":
                problems.append(Problem(number, name, f"unknown language {suffix!r} in the column name; use "
                                        f"{base}_<language> with one of {', '.join(STUDY_LANGUAGES)} (zh: zh-hans)"))
            continue
        if text is None:
            problems.append(Problem(number, name, "must be text"))
            continue
        if not text:
            continue
        limit = TEXT_LIMITS[base]
        if limit is not None and len(text) > limit:
            problems.append(Problem(number, name, f"longer than {limit} characters"))
            continue
        if language in found.get(base, {}):
            problems.append(Problem(number, name, f"{base} in {language} is given twice"))
            continue
        found.setdefault(base, {})[language] = text
    return found


def parse_cases(rows: list[dict[str, Any]], taxonomy: Taxonomy, problems: list[Problem]) -> list[_CaseSpec]:
    if not rows:
        problems.append(Problem(None, "cases", "the manifest has no cases"))
    codes = dict(taxonomy.conditions.values_list("code", "name"))
    options = dict(taxonomy.management_options.values_list("code", "label"))
    specs, seen = [], {}
    for number, row in enumerate(rows, start=1):
        spec = _parse_row(row, number, problems)
        if spec is None:
            continue
        if spec.key in seen:
            problems.append(Problem(number, "case_id", f"duplicate id {spec.key!r} (first in row {seen[spec.key]})"))
        seen.setdefault(spec.key, number)
        if spec.reference_code and spec.reference_code not in codes:
            problems.append(Problem(number, "reference_code", f"unknown code {spec.reference_code!r} in {taxonomy}"
                                    + _did_you_mean(spec.reference_code, codes)
                                    + "; the codes are listed on the import page and in the template"))
        if spec.reference_management and spec.reference_management not in options:
            problems.append(Problem(number, "reference_management",
                                    f"unknown option {spec.reference_management!r}; use one of "
                                    + ", ".join(f"{code} ({label})" for code, label in options.items())
                                    + " or leave it empty"))
        specs.append(spec)
    return specs


def _choices(choices) -> str:
    """'histopathology (Histopathology), expert_panel (Expert panel), ...' for a TextChoices class."""
    return ", ".join(f"{value} ({label})" if str(label).lower() != value.lower() else value
                     for value, label in choices.choices)


def _did_you_mean(code: str, codes: dict[str, str]) -> str:
    """' (did you mean NEV, Melanocytic naevus?)' from the closest codes and names, or ''."""
    by_name = {name.lower(): c for c, name in codes.items()}
    close = difflib.get_close_matches(code.upper(), list(codes), n=2, cutoff=0.6)
    close += [by_name[n] for n in difflib.get_close_matches(code.lower(), list(by_name), n=2, cutoff=0.6)]
    close = list(dict.fromkeys(close))[:2]
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"{c}, {codes[c]}" for c in close) + "?)"


# ---------------------------------------------------------------- image sources


class ImageSource:
    """Reads image bytes from a folder or a zip, refusing paths that escape it."""

    def __init__(self, location: Path):
        self.location = location
        self.zip: zipfile.ZipFile | None = None
        self.members: dict[str, zipfile.ZipInfo] = {}

    def __enter__(self) -> ImageSource:
        if self.location.is_file():
            try:
                self.zip = zipfile.ZipFile(self.location)
            except zipfile.BadZipFile as exc:
                raise CaseImportError([Problem(None, "images", f"{self.location.name} is not a zip: {exc}")]) from exc
            self.members = {info.filename: info for info in self.zip.infolist() if not info.is_dir()}
        elif not self.location.is_dir():
            raise CaseImportError([Problem(None, "images", f"{self.location} is neither a folder nor a zip")])
        return self

    def __exit__(self, *exc: object) -> None:
        if self.zip is not None:
            self.zip.close()

    def archive_problems(self) -> Iterator[Problem]:
        """Zip-level refusals: entries escaping the archive and oversized archives."""
        total = 0
        for name, info in self.members.items():
            if _unsafe(name):
                yield Problem(None, "images", f"zip entry {name!r} has an absolute or parent path (zip-slip)")
            total += info.file_size
        if total > settings.MAX_ZIP_BYTES:
            yield Problem(None, "images", f"zip expands to {total:,} bytes, over {settings.MAX_ZIP_BYTES:,}")

    def read(self, name: str) -> bytes:
        if _unsafe(name):
            raise ImageProblem("absolute or parent path refused (path traversal)")
        if self.zip is not None:
            info = self.members.get(name)
            if info is None:
                raise ImageProblem("not found in the zip")
            if info.file_size > settings.MAX_IMAGE_BYTES:
                raise ImageProblem(f"expands to {info.file_size:,} bytes; the limit is {settings.MAX_IMAGE_BYTES:,}")
            if info.compress_size and info.file_size / info.compress_size > MAX_COMPRESSION_RATIO:
                raise ImageProblem("compression ratio is implausibly high (zip bomb)")
            try:
                with self.zip.open(info) as handle:
                    return handle.read(settings.MAX_IMAGE_BYTES + 1)
            except NotImplementedError as exc:  # zipfile: an unsupported compression method
                raise ImageProblem(f"the zip entry uses a compression this import cannot read ({exc}); "
                                   "use ordinary (deflate) zip compression") from exc
            except RuntimeError as exc:  # zipfile: "File ... is encrypted, password required"
                raise ImageProblem("the zip entry is encrypted; zip the images without a password") from exc
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:  # bad CRC, truncated
                raise ImageProblem(f"the zip entry is corrupt ({exc})") from exc
        path = self.location / name
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise ImageProblem("file not found") from None
        if not resolved.is_relative_to(self.location.resolve()):
            raise ImageProblem("resolves outside the image folder (path traversal)")
        if resolved.stat().st_size > settings.MAX_IMAGE_BYTES:
            raise ImageProblem(
                f"file is {resolved.stat().st_size:,} bytes; the limit is {settings.MAX_IMAGE_BYTES:,}"
            )
        return resolved.read_bytes()


def _unsafe(name: str) -> bool:
    posix = PurePosixPath(name.replace("\\", "/"))
    return name.startswith(("/", "\\")) or ".." in posix.parts or (len(name) > 1 and name[1] == ":")


def prepare_images(source: ImageSource, specs: list[_CaseSpec], problems: list[Problem]) -> dict[str, PreparedImage]:
    """Decode and sanitise every referenced image in parallel (Pillow releases the GIL)."""
    names = sorted({image.path for spec in specs for image in spec.images})

    def work(name: str) -> tuple[str, PreparedImage | str]:
        try:
            return name, prepare_image(source.read(name))
        except ImageProblem as exc:
            return name, str(exc)

    workers = min(8, (os.cpu_count() or 2) + 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = dict(pool.map(work, names))
    for spec in specs:
        for image in spec.images:
            outcome = results[image.path]
            if isinstance(outcome, str):
                problems.append(Problem(spec.row, image.field, f"{image.path}: {outcome}"))
    return {name: r for name, r in results.items() if not isinstance(r, str)}


# ---------------------------------------------------------------- the service


def case_import(
    *, manifest: Path, images: Path, case_set_name: str, taxonomy: Taxonomy, actor=None, description: str = ""
) -> ImportReport:
    """Validate everything, then save everything in one transaction, or raise CaseImportError."""
    problems: list[Problem] = []
    if not case_set_name.strip():
        problems.append(Problem(None, "case_set", "a case set name is required"))
    specs = parse_cases(read_manifest(Path(manifest)), taxonomy, problems)
    with ImageSource(Path(images)) as source:
        archive = list(source.archive_problems())
        problems.extend(archive)
        # Images are checked even when the manifest has problems, so one attempt reports them all
        # (a missing image together with a duplicate id); only a hostile archive stops here.
        prepared = prepare_images(source, specs, problems) if not archive else {}
    if problems:
        raise CaseImportError(problems)
    existing = CaseSet.objects.filter(name=case_set_name).first()
    if existing is not None:
        return _same_or_refuse(existing, specs, prepared, taxonomy)
    stored = {name: store_prepared(p) for name, p in prepared.items()}
    return _save(specs, prepared, stored, case_set_name, taxonomy, actor, description)


@transaction.atomic
def _save(specs, prepared, stored, name, taxonomy, actor, description) -> ImportReport:
    case_set = CaseSet.objects.create(
        name=name, taxonomy=taxonomy, description=description,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    conditions = {c.code: c for c in taxonomy.conditions.all()}
    options = {o.code: o for o in taxonomy.management_options.all()}
    cases = Case.objects.bulk_create([
        Case(case_set=case_set, key=s.key, reference=conditions[s.reference_code],
             reference_source=s.reference_source,
             reference_management=options.get(s.reference_management), **s.values)
        for s in specs
    ])
    images = []
    for case, spec in zip(cases, specs, strict=True):
        for order, image in enumerate(spec.images):
            p, (file_path, thumb_path) = prepared[image.path], stored[image.path]
            images.append(CaseImage(case=case, role=image.role, order=order, file=file_path, thumbnail=thumb_path,
                                    sha256=p.sha256, width=p.width, height=p.height,
                                    original_name=PurePosixPath(image.path).name[:300]))
    CaseImage.objects.bulk_create(images)
    audit_record(actor=actor, action="caseset.import", obj=case_set,
                 data={"cases": len(cases), "images": len(images), "taxonomy": str(taxonomy)})
    return ImportReport(case_set, True, len(cases), len(images), [f"Imported {len(cases)} cases, {len(images)} images."])


def _fingerprint(key: str, values: dict, reference: str, source: str, management: str, images: list) -> tuple:
    flat = {name: json.dumps(value, sort_keys=True) if isinstance(value, dict) else value
            for name, value in values.items()}
    return (key, tuple(sorted(flat.items())), reference, source, management, tuple(images))


def _same_or_refuse(case_set: CaseSet, specs, prepared, taxonomy: Taxonomy) -> ImportReport:
    """Re-running an identical import is a no-op; a different one under the same name is refused."""
    wanted = {
        _fingerprint(s.key, s.values, s.reference_code, s.reference_source, s.reference_management,
                     [(i.role, prepared[i.path].sha256) for i in s.images])
        for s in specs
    }
    cases = case_set.cases.select_related("reference", "reference_management").prefetch_related("images")
    have = {
        _fingerprint(c.key, {f: getattr(c, f) for f in (*METADATA_FIELDS, "translations")}, c.reference.code, c.reference_source,
                     c.reference_management.code if c.reference_management else "",
                     [(i.role, i.sha256) for i in c.images.all()])
        for c in cases
    }
    if wanted != have or case_set.taxonomy_id != taxonomy.pk:
        differing = sorted({f[0] for f in wanted ^ have})[:10]
        raise CaseImportError([Problem(None, "case_set", f"case set {case_set.name!r} already exists with different "
                                       f"content (cases differing: {', '.join(differing) or 'taxonomy'}); "
                                       "import under a new name")])
    n_images = sum(len(s.images) for s in specs)
    return ImportReport(case_set, False, len(specs), n_images, ["Already imported: nothing changed."])


def case_import_uploads(
    *, manifest, images, case_set_name: str, taxonomy: Taxonomy, actor=None, description: str = ""
) -> ImportReport:
    """`case_import` for uploaded files (a manifest and a zip of images), as the page and API receive them."""
    with tempfile.TemporaryDirectory(prefix="import-") as tmp:
        manifest_path = Path(tmp) / f"manifest{Path(manifest.name).suffix.lower()}"
        archive_path = Path(tmp) / "images.zip"
        for upload, target in ((manifest, manifest_path), (images, archive_path)):
            with target.open("wb") as handle:
                for chunk in upload.chunks():
                    handle.write(chunk)
        return case_import(manifest=manifest_path, images=archive_path, case_set_name=case_set_name,
                           taxonomy=taxonomy, actor=actor, description=description)


# ---------------------------------------------------------------- what a manifest may contain

MANIFEST_COLUMNS = ("case_id", "clinical_image", "dermoscopic_image", "age", "sex", "body_site", "fitzpatrick",
                    "duration", "history", "reference_code", "reference_source", "reference_management")


@dataclass(frozen=True)
class ImportReference:
    """The allowed values of every coded manifest field, in plain words, for the page and templates."""

    taxonomy: Taxonomy | None
    conditions: list[tuple[str, str, str]]  # code, name, group
    management: list[tuple[str, str]]  # code, label
    reference_sources: list[tuple[str, str]]
    sexes: list[tuple[str, str]]
    image_roles: list[tuple[str, str]]
    columns: tuple[str, ...] = MANIFEST_COLUMNS


def import_reference(taxonomy: Taxonomy | None = None) -> ImportReference:
    """Allowed values for ``taxonomy`` (default: the first taxonomy, the shipped default)."""
    taxonomy = taxonomy or Taxonomy.objects.order_by("pk").first()
    groups = dict(ConditionGroup.choices)
    conditions = ([(code, name, groups.get(group, group)) for code, name, group in
                   taxonomy.conditions.order_by("group", "name").values_list("code", "name", "group")]
                  if taxonomy else [])
    management = list(taxonomy.management_options.values_list("code", "label")) if taxonomy else []
    return ImportReference(taxonomy, conditions, management, list(ReferenceSource.choices), list(Sex.choices),
                           list(ImageRole.choices))


def manifest_template(reference: ImportReference, fmt: str) -> str:
    """A template manifest (CSV with a header, or a JSON example) with two example cases and real codes."""
    codes = [code for code, _name, _group in reference.conditions][:2] or ["CODE1", "CODE2"]
    if len(codes) == 1:
        codes.append(codes[0])
    management = [code for code, _label in reference.management][:2] or ["", ""]
    if len(management) == 1:
        management.append(management[0])
    examples = [
        {"case_id": "case-001", "clinical_image": "case-001-clinical.jpg",
         "dermoscopic_image": "case-001-dermoscopy.jpg", "age": 54, "sex": "F", "body_site": "left forearm",
         "fitzpatrick": "III", "duration": "6 months", "history": "Changing lesion noticed by partner.",
         "reference_code": codes[0], "reference_source": ReferenceSource.HISTOPATHOLOGY,
         "reference_management": management[0]},
        {"case_id": "case-002", "clinical_image": "case-002-clinical.jpg", "dermoscopic_image": "",
         "age": 67, "sex": "M", "body_site": "upper back", "fitzpatrick": "II", "duration": "1 year",
         "history": "", "reference_code": codes[1], "reference_source": ReferenceSource.EXPERT_PANEL,
         "reference_management": management[1]},
    ]
    if fmt == "json":
        cases = []
        for row in examples:
            images = [{"file": row["clinical_image"], "role": ImageRole.CLINICAL}]
            if row["dermoscopic_image"]:
                images.append({"file": row["dermoscopic_image"], "role": ImageRole.DERMOSCOPIC})
            case = {key: value for key, value in row.items() if not key.endswith("_image")
                    and not key.startswith("reference")}
            case.update(images=images, reference={"code": row["reference_code"],
                                                  "source": row["reference_source"]},
                        reference_management=row["reference_management"])
            cases.append(case)
        return json.dumps({"cases": cases}, indent=2, ensure_ascii=False) + "\n"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(MANIFEST_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows([{key: neutralise_cell(value) for key, value in row.items()} for row in examples])
    return buffer.getvalue()
