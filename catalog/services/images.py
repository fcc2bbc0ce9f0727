"""Image checks and storage: decode to verify, strip metadata, store by content hash, thumbnail."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageOps

ALLOWED_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "TIFF": ".png", "WEBP": ".jpg", "BMP": ".png"}


class ImageProblem(ValueError):
    """An image that must not be imported; the message says why."""


@dataclass(frozen=True)
class PreparedImage:
    """A sanitised image ready to store: metadata stripped, orientation applied."""

    data: bytes
    thumbnail: bytes
    sha256: str
    suffix: str
    width: int
    height: int


def decode_checked(raw: bytes) -> Image.Image:
    """Fully decode `raw`, refusing non-images, truncated files and decompression bombs."""
    if len(raw) > settings.MAX_IMAGE_BYTES:
        raise ImageProblem(f"file is {len(raw):,} bytes; the limit is {settings.MAX_IMAGE_BYTES:,}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            probe = Image.open(io.BytesIO(raw))
            fmt = probe.format
            if fmt not in ALLOWED_FORMATS:
                raise ImageProblem(f"unsupported image type {fmt or 'unknown'}; use JPEG or PNG")
            width, height = probe.size
            if width * height > settings.MAX_IMAGE_PIXELS:
                raise ImageProblem(
                    f"image is {width}x{height} pixels, over the {settings.MAX_IMAGE_PIXELS:,}-pixel limit "
                    "(possible decompression bomb)"
                )
            probe.load()
        except ImageProblem:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageProblem(f"refused as a decompression bomb: {exc}") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageProblem(f"not a readable image (corrupt or truncated): {exc}") from exc
    probe.format_hint = fmt  # type: ignore[attr-defined]
    return probe


def prepare_image(raw: bytes) -> PreparedImage:
    """Decode, apply EXIF orientation, re-encode without EXIF/GPS/ICC text chunks, make a thumbnail."""
    image = decode_checked(raw)
    fmt = image.format_hint  # type: ignore[attr-defined]
    image = ImageOps.exif_transpose(image)
    suffix = ALLOWED_FORMATS[fmt]
    if suffix == ".jpg":
        image = image.convert("RGB")
        out = _encode(image, "JPEG", quality=95, optimize=False)
    else:
        image = image.convert("RGBA" if image.mode in {"RGBA", "LA", "P"} else "RGB")
        out = _encode(image, "PNG", compress_level=3)
    thumb = image.convert("RGB")
    thumb.thumbnail((settings.THUMBNAIL_SIZE, settings.THUMBNAIL_SIZE))
    return PreparedImage(
        data=out,
        thumbnail=_encode(thumb, "JPEG", quality=85),
        sha256=hashlib.sha256(out).hexdigest(),
        suffix=suffix,
        width=image.width,
        height=image.height,
    )


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)  # no exif= / pnginfo=: metadata is dropped
    return buffer.getvalue()


def image_paths(prepared: PreparedImage) -> tuple[str, str]:
    """Relative storage paths: images/ab/abcdef....jpg and thumbs/ab/abcdef....jpg."""
    h = prepared.sha256
    return f"images/{h[:2]}/{h}{prepared.suffix}", f"thumbs/{h[:2]}/{h}.jpg"


def store_prepared(prepared: PreparedImage) -> tuple[str, str]:
    """Write the image and its thumbnail to the default storage (content-addressed: rewrites are no-ops).

    The local filesystem (MEDIA_ROOT) by default; S3-compatible object storage with STORAGE_BACKEND=s3.
    """
    file_path, thumb_path = image_paths(prepared)
    for rel, data in ((file_path, prepared.data), (thumb_path, prepared.thumbnail)):
        if default_storage.exists(rel):
            continue
        saved = default_storage.save(rel, ContentFile(data))
        if saved != rel:  # a concurrent import wrote the same content first
            default_storage.delete(saved)
    return file_path, thumb_path


def read_stored(rel: str) -> bytes:
    """Bytes of a stored image or thumbnail, from whichever storage holds them."""
    with default_storage.open(rel, "rb") as handle:
        return handle.read()
