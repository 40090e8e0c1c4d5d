"""A discussion's avatar and header from an upload (Discussions.set_image): decoded,
checked and encoded afresh with Pillow, so nothing of the upload but its pixels is kept
(no EXIF: location, camera)."""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

from fedi_forum.errors import InvalidInput

IMAGE_SIZES = {"icon": (400, 400), "header": (1500, 500)}
MAX_PIXELS = 40_000_000  # larger is refused before decoding (a decompression bomb)
IMAGE_FORMATS = frozenset({"PNG", "JPEG", "GIF", "WEBP"})


def reencode(upload: bytes, kind: str) -> tuple[str, bytes]:
    """An uploaded image as our own file: attacker-controlled bytes in (an admin's
    upload, but a file from anywhere), fresh pixels out."""
    try:
        with Image.open(io.BytesIO(upload)) as source:
            if source.format not in IMAGE_FORMATS:
                raise InvalidInput(
                    f"image format {source.format}", public_message="PNG, JPEG, GIF or WebP only"
                )
            width, height = source.size
            if width * height > MAX_PIXELS:
                raise InvalidInput("too many pixels", public_message="the image is too large")
            source.seek(0)  # the first frame of an animation
            image = source.convert("RGBA" if kind == "icon" else "RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise InvalidInput(f"not an image: {exc}", public_message="not a readable image") from exc
    image.thumbnail(IMAGE_SIZES[kind])
    out = io.BytesIO()
    if kind == "icon":
        image.save(out, format="PNG", optimize=True)
        return "image/png", out.getvalue()
    image.save(out, format="JPEG", quality=85, optimize=True)
    return "image/jpeg", out.getvalue()
