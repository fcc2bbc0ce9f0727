"""Case import: all-or-nothing with every problem named by row and field, re-runnable, metadata stripped."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from catalog.models import Case, CaseImage, CaseSet
from catalog.services.case_import import CaseImportError, case_import
from common.models import AuditEvent
from tests.factories import small_taxonomy

pytestmark = pytest.mark.django_db

GPS_TAG, MAKE_TAG = 0x8825, 0x010F


def jpeg_bytes(color=(180, 120, 100), size=(64, 48), exif: bool = False) -> bytes:
    image = Image.new("RGB", size, color)
    buffer = io.BytesIO()
    if exif:
        info = Image.Exif()
        info[MAKE_TAG] = "PhoneMaker"
        info[GPS_TAG] = {1: "N", 2: (51.0, 30.0, 0.0)}
        image.save(buffer, "JPEG", exif=info.tobytes())
    else:
        image.save(buffer, "JPEG")
    return buffer.getvalue()


def write_manifest(folder: Path, rows: list[dict], fmt: str = "csv") -> Path:
    if fmt == "json":
        path = folder / "manifest.json"
        path.write_text(json.dumps({"cases": rows}))
        return path
    path = folder / "manifest.csv"
    columns = sorted({key for row in rows for key in row})
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def good_rows(n: int = 3) -> list[dict]:
    return [
        {"case_id": f"case-{i}", "clinical_image": f"c{i}.jpg", "dermoscopic_image": f"d{i}.jpg", "age": 40 + i,
         "sex": "F", "body_site": "back", "fitzpatrick": "III", "duration": "3 months", "history": "Changing mole",
         "reference_code": "MEL" if i % 2 else "NEV", "reference_source": "histopathology",
         "reference_management": "biopsy_excise"}
        for i in range(n)
    ]


@pytest.fixture
def taxonomy():
    return small_taxonomy()


@pytest.fixture
def image_dir(tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        (folder / f"c{i}.jpg").write_bytes(jpeg_bytes((150 + i, 100, 90), exif=True))
        (folder / f"d{i}.jpg").write_bytes(jpeg_bytes((90, 60, 50 + i)))
    return folder


def snapshot() -> tuple[int, int, int]:
    return CaseSet.objects.count(), Case.objects.count(), CaseImage.objects.count()


def run(tmp_path, taxonomy, rows, images, fmt="csv", name="Set A"):
    return case_import(manifest=write_manifest(tmp_path, rows, fmt), images=images, case_set_name=name,
                       taxonomy=taxonomy)


def test_csv_import_creates_cases_images_and_thumbnails(tmp_path, taxonomy, image_dir, settings):
    report = run(tmp_path, taxonomy, good_rows(), image_dir)
    assert report.created and report.n_cases == 3 and report.n_images == 6
    case = Case.objects.get(key="case-1")
    assert (case.age, case.fitzpatrick, case.reference.code, case.reference_management.code) == (41, 3, "MEL",
                                                                                                   "biopsy_excise")
    roles = list(case.images.values_list("role", flat=True))
    assert roles == ["clinical", "dermoscopic"]
    image = case.images.first()
    assert (image.width, image.height) == (64, 48)
    assert (Path(settings.MEDIA_ROOT) / image.file).exists() and (Path(settings.MEDIA_ROOT) / image.thumbnail).exists()
    assert image.file == f"images/{image.sha256[:2]}/{image.sha256}.jpg"
    assert AuditEvent.objects.filter(action="caseset.import").count() == 1


def test_json_manifest_with_image_list(tmp_path, taxonomy, image_dir):
    rows = [{"case_id": "j1", "images": [{"file": "c0.jpg", "role": "clinical"}, {"file": "d0.jpg", "role": "dermoscopic"}],
             "reference": {"code": "BCC", "source": "expert_panel"}, "age": 70, "sex": "M"}]
    report = run(tmp_path, taxonomy, rows, image_dir, fmt="json")
    assert report.n_images == 2 and Case.objects.get(key="j1").reference_source == "expert_panel"


def test_exif_and_gps_are_stripped(tmp_path, taxonomy, image_dir, settings):
    assert Image.open(image_dir / "c0.jpg").getexif().get(MAKE_TAG) == "PhoneMaker"
    run(tmp_path, taxonomy, good_rows(), image_dir)
    stored = Case.objects.get(key="case-0").images.get(role="clinical")
    with Image.open(Path(settings.MEDIA_ROOT) / stored.file) as image:
        exif = image.getexif()
        assert MAKE_TAG not in exif and GPS_TAG not in exif
        assert "exif" not in image.info


def test_reimport_is_a_noop(tmp_path, taxonomy, image_dir):
    run(tmp_path, taxonomy, good_rows(), image_dir)
    before = snapshot()
    report = run(tmp_path, taxonomy, good_rows(), image_dir)
    assert report.created is False and snapshot() == before
    assert "nothing changed" in report.messages[0]


def test_different_content_under_same_name_is_refused(tmp_path, taxonomy, image_dir):
    run(tmp_path, taxonomy, good_rows(), image_dir)
    rows = good_rows()
    rows[2]["age"] = 99
    before = snapshot()
    with pytest.raises(CaseImportError, match="already exists with different content.*case-2"):
        run(tmp_path, taxonomy, rows, image_dir)
    assert snapshot() == before


def corrupt(folder: Path, name: str, data: bytes) -> None:
    (folder / name).write_bytes(data)


FAILURES = [
    # (description, mutate rows, mutate images, expected row, field, message fragment)
    ("unknown code", lambda r: r[1].update(reference_code="XYZ"), None, 2, "reference_code", "unknown code 'XYZ'"),
    ("missing image", lambda r: r[0].update(clinical_image="nope.jpg"), None, 1, "clinical_image", "not found"),
    ("corrupt image", None, lambda f: corrupt(f, "d1.jpg", b"not an image at all"), 2, "dermoscopic_image",
     "not a readable image"),
    ("truncated image", None, lambda f: corrupt(f, "c2.jpg", jpeg_bytes(size=(400, 300))[:900]), 3, "clinical_image",
     "corrupt or truncated"),
    ("duplicate id", lambda r: r[2].update(case_id="case-0"), None, 3, "case_id", "duplicate id 'case-0'"),
    ("bad age", lambda r: r[0].update(age="forty"), None, 1, "age", "not a whole number"),
    ("fitzpatrick range", lambda r: r[1].update(fitzpatrick="9"), None, 2, "fitzpatrick", "outside 1-6"),
    ("bad source", lambda r: r[1].update(reference_source="guess"), None, 2, "reference_source", "is not one of"),
    ("parent path", lambda r: r[0].update(clinical_image="../secret.jpg"), None, 1, "clinical_image",
     "path traversal"),
    ("absolute path", lambda r: r[0].update(clinical_image="/etc/passwd"), None, 1, "clinical_image",
     "path traversal"),
    ("unknown management", lambda r: r[0].update(reference_management="pray"), None, 1, "reference_management",
     "unknown option"),
]


@pytest.mark.parametrize("desc,rows_change,images_change,row,field,fragment", FAILURES, ids=[f[0] for f in FAILURES])
def test_each_failure_names_row_and_field_and_saves_nothing(
    tmp_path, taxonomy, image_dir, desc, rows_change, images_change, row, field, fragment
):
    rows = good_rows()
    if rows_change:
        rows_change(rows)
    if images_change:
        images_change(image_dir)
    before = snapshot()
    with pytest.raises(CaseImportError) as info:
        run(tmp_path, taxonomy, rows, image_dir)
    matches = [p for p in info.value.problems if p.row == row and p.field == field and fragment in p.message]
    assert matches, f"{desc}: {info.value.problems}"
    assert snapshot() == before


def test_every_problem_is_reported_at_once(tmp_path, taxonomy, image_dir):
    rows = good_rows()
    rows[0]["reference_code"] = "XYZ"
    rows[2]["age"] = "old"
    with pytest.raises(CaseImportError) as info:
        run(tmp_path, taxonomy, rows, image_dir)
    assert {(p.row, p.field) for p in info.value.problems} >= {(1, "reference_code"), (3, "age")}


def test_oversized_image_is_refused(tmp_path, taxonomy, image_dir, settings):
    settings.MAX_IMAGE_BYTES = 500
    with pytest.raises(CaseImportError, match="the limit is 500"):
        run(tmp_path, taxonomy, good_rows(), image_dir)
    assert snapshot() == (0, 0, 0)


def test_decompression_bomb_is_refused(tmp_path, taxonomy, image_dir, settings):
    # A 12000x12000 bilevel PNG is a few kB on disk but 144 M pixels once decoded.
    Image.new("1", (12000, 12000)).save(image_dir / "d0.jpg", "PNG")
    assert (image_dir / "d0.jpg").stat().st_size < 100_000
    with pytest.raises(CaseImportError) as info:
        run(tmp_path, taxonomy, good_rows(), image_dir)
    assert any(p.row == 1 and "decompression bomb" in p.message for p in info.value.problems)
    assert snapshot() == (0, 0, 0)


def make_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_zip_import_and_zip_slip(tmp_path, taxonomy, image_dir):
    files = {p.name: p.read_bytes() for p in image_dir.iterdir()}
    good = make_zip(tmp_path / "good.zip", files)
    assert run(tmp_path, taxonomy, good_rows(), good).n_images == 6
    evil = make_zip(tmp_path / "evil.zip", {**files, "../../escape.jpg": files["c0.jpg"]})
    with pytest.raises(CaseImportError, match="zip-slip"):
        run(tmp_path, taxonomy, good_rows(), evil, name="Set B")
    assert not CaseSet.objects.filter(name="Set B").exists()


def test_zip_bomb_member_is_refused(tmp_path, taxonomy, image_dir):
    files = {p.name: p.read_bytes() for p in image_dir.iterdir()}
    files["d2.jpg"] = b"\0" * 5_000_000  # deflates ~1000:1
    bomb = make_zip(tmp_path / "bomb.zip", files)
    with pytest.raises(CaseImportError) as info:
        run(tmp_path, taxonomy, good_rows(), bomb)
    assert any(p.row == 3 and "zip bomb" in p.message for p in info.value.problems)


def test_command_reports_problems_and_exits_nonzero(tmp_path, taxonomy, image_dir):
    rows = good_rows()
    rows[1]["reference_code"] = "XYZ"
    manifest = write_manifest(tmp_path, rows)
    with pytest.raises(CommandError, match="row 2, reference_code: unknown code 'XYZ'"):
        call_command("import_cases", str(manifest), images=str(image_dir), case_set="Cmd", taxonomy="Test taxonomy:1")
    out = io.StringIO()
    call_command("import_cases", str(write_manifest(tmp_path, good_rows())), images=str(image_dir),
                 case_set="Cmd", taxonomy="Test taxonomy:1", stdout=out)
    assert "Imported 3 cases, 6 images" in out.getvalue()


def test_import_page_saves_or_lists_problems(client, tmp_path, taxonomy, image_dir):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    user = UserFactory()
    client.force_login(user)
    assert client.get("/case-sets/import/").status_code == 404  # no permission: not found
    user.user_permissions.add(Permission.objects.get(codename="add_caseset"))
    files = {p.name: p.read_bytes() for p in image_dir.iterdir()}
    archive = make_zip(tmp_path / "imgs.zip", files)
    rows = good_rows()
    rows[0]["reference_code"] = "XYZ"
    with write_manifest(tmp_path, rows).open("rb") as manifest, archive.open("rb") as images:
        page = client.post("/case-sets/import/", {"name": "Web", "taxonomy": taxonomy.pk, "manifest": manifest,
                                                  "images": images})
    assert page.status_code == 200 and b"unknown code &#x27;XYZ&#x27;" in page.content
    assert snapshot() == (0, 0, 0)
    with write_manifest(tmp_path, good_rows()).open("rb") as manifest, archive.open("rb") as images:
        page = client.post("/case-sets/import/", {"name": "Web", "taxonomy": taxonomy.pk, "manifest": manifest,
                                                  "images": images}, follow=True)
    assert b"Imported 3 cases, 6 images" in page.content and CaseSet.objects.get(name="Web").cases.count() == 3
