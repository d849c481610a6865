"""The photos of an observation form: read from the request, checked, staged.

Only JPEG, PNG and WebP files (by their magic bytes) of at most ``MAX_PHOTO_BYTES`` are
accepted, at most ``MAX_PHOTOS`` per request; images carrying markup or code are refused.
:class:`PhotoUpload` hands them to :func:`layers.observations.create_observation_record`,
which stages them before its write and settles them after it (:mod:`webmap.photos`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from flask import current_app, request

from layers.store.base import LayerStore
from webmap import photos as photos_store
from webmap.access import fail

# markup or code in an image: an HTML / SVG / PHP polyglot. Tokens of 5 bytes or more, so
# that compressed image data matches by chance about once in 10,000 photos of 5 MB
_POLYGLOT = re.compile(rb"(?i:<\?php|<(?:script|html|iframe|body[\s>])|javascript:)|<svg[\s>]")

def check_photo(data: bytes, name: str) -> str:
    """Extension of an accepted photo (magic bytes), else a 400 on ``photos``.

    Images carrying markup or code (polyglot files a browser could run as HTML) are refused.
    """
    name = name[:80]
    limit = int(current_app.config["MAX_PHOTO_BYTES"])
    if len(data) > limit:
        fail(400, f"Photo « {name} » trop lourde ({limit / 1e6:.1f} Mo au plus).", "photos")
    kind = None
    if data.startswith(b"\xff\xd8\xff"):
        kind = "jpg"
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        kind = "png"
    elif len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = "webp"
    if kind is None:
        fail(400, f"« {name} » n'est pas une image JPEG, PNG ou WebP.", "photos")
    if _POLYGLOT.search(data):
        fail(400, f"« {name} » contient du code (HTML, script ou PHP) : image refusée.", "photos")
    return kind


def read_photos() -> list[tuple[bytes, str]]:
    """Read and check the ``photos`` parts of this multipart request (400 on ``photos`` otherwise)."""
    # a part without a file name is kept when it has content (an empty one is a browser's
    # « no file chosen »): an unnamed photo must not be dropped silently
    files = [f for f in request.files.getlist("photos") if f.filename or f.stream.read(1)]
    for f in files:
        f.stream.seek(0)
    unexpected = sorted(set(request.files) - {"photos"})
    if unexpected:
        fail(400, f"Fichier inattendu « {unexpected[0]} ».", unexpected[0])
    if len(files) > current_app.config["MAX_PHOTOS"]:
        fail(400, f"{current_app.config['MAX_PHOTOS']} photos au plus.", "photos")
    out = []
    for f in files:
        data = f.read(current_app.config["MAX_PHOTO_BYTES"] + 1)
        out.append((data, check_photo(data, f.filename or "photo")))
    return out


@dataclass(frozen=True)
class PhotoUpload:
    """The photos of a request, staged in the photos folder (:mod:`webmap.photos`)."""

    folder: Path
    photos: list[tuple[bytes, str]]

    def stage(self, uid: str) -> list[str]:
        return photos_store.stage(self.folder, uid, self.photos)

    def settle(self, store: LayerStore, uid: str, names: Sequence[str]) -> bool:
        return photos_store.settle(store, self.folder, uid, names)
