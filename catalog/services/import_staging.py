"""Uploads of a failed case import, kept for a short while so the coordinator need not choose them again.

A browser cannot re-fill a file input, so after a failed attempt the page offers "import again with
the same files": the manifest and the zip are kept under MEDIA_ROOT/import-staging/<token>/ with the
uploading user's id, for STAGING_MAX_AGE_S. Only that user can use the token; stale folders are
removed whenever anything is staged or read.
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files import File

STAGING_MAX_AGE_S = 60 * 60
TOKEN_BYTES = 24


@dataclass(frozen=True)
class StagedUpload:
    token: str
    manifest_name: str
    manifest_size: int
    images_name: str
    images_size: int


def _root() -> Path:
    return Path(settings.MEDIA_ROOT) / "import-staging"


def _folder(token: str) -> Path | None:
    if not token or not token.replace("-", "").replace("_", "").isalnum() or len(token) > 64:
        return None
    return _root() / token


def staging_cleanup(*, max_age_s: int = STAGING_MAX_AGE_S) -> int:
    """Remove staged uploads older than ``max_age_s``; returns how many were removed."""
    root, removed = _root(), 0
    if not root.is_dir():
        return 0
    cutoff = time.time() - max_age_s
    for folder in root.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def uploads_stage(*, user_id: int, manifest, images) -> StagedUpload:
    """Keep two uploaded files (anything with ``name`` and ``chunks()``) under a new token."""
    staging_cleanup()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    folder = _root() / token
    folder.mkdir(parents=True)
    names = {}
    for key, upload in (("manifest", manifest), ("images", images)):
        suffix = Path(upload.name).suffix.lower()
        target = folder / f"{key}{suffix}"
        with target.open("wb") as handle:
            for chunk in upload.chunks():
                handle.write(chunk)
        names[key] = {"name": Path(upload.name).name[:200], "file": target.name, "size": target.stat().st_size}
    (folder / "meta.json").write_text(json.dumps({"user": user_id, **names}))
    return _staged(token, names)


def _staged(token: str, names: dict) -> StagedUpload:
    return StagedUpload(token, names["manifest"]["name"], names["manifest"]["size"],
                        names["images"]["name"], names["images"]["size"])


def staged_upload(*, token: str, user_id: int) -> StagedUpload | None:
    """The staged upload behind ``token`` if it is this user's and not expired, else None."""
    folder = _folder(token)
    if folder is None or not (folder / "meta.json").is_file():
        return None
    if folder.stat().st_mtime < time.time() - STAGING_MAX_AGE_S:
        shutil.rmtree(folder, ignore_errors=True)
        return None
    meta = json.loads((folder / "meta.json").read_text())
    if meta.get("user") != user_id:
        return None
    return _staged(token, meta)


def staged_files(*, token: str, user_id: int) -> tuple[File, File] | None:
    """Open files (manifest, images) of this user's staged upload, named as they were uploaded."""
    staged = staged_upload(token=token, user_id=user_id)
    if staged is None:
        return None
    folder = _root() / token
    meta = json.loads((folder / "meta.json").read_text())
    opened = []
    for key in ("manifest", "images"):
        handle = (folder / meta[key]["file"]).open("rb")
        opened.append(File(handle, name=meta[key]["name"]))
    return opened[0], opened[1]


def staged_discard(*, token: str) -> None:
    folder = _folder(token)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
