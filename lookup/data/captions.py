"""Image-caption corpora as text retrieval: label = image id.

Queries are one caption per image of the query side (chosen with the seed); the database is
every other caption, so each query has the other captions of its image (4 or so) to find.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from lookup.data.base import Dataset, fingerprint_texts
from lookup.errors import BadInput
from lookup.io import check_input_file, read_bounded

log = logging.getLogger(__name__)

FLICKR_SPLITS = ("train", "dev", "test")

# Where the files come from (README: Data), for the one line a missing file prints.
COCO_HINT = (
    "a COCO caption JSON file: captions_val2017.json from annotations_trainval2017.zip "
    "(https://cocodataset.org/#download), saved as $LOOKUP_DATA_DIR/captions/"
    "coco_captions_val2017.json or given as dataset.path=FILE"
)
FLICKR_HINT = (
    "the Flickr8k text files (Flickr8k.token.txt, Flickr_8k.{train,dev,test}Images.txt from "
    "Flickr8k_text.zip) in $LOOKUP_DATA_DIR/captions/flickr8k or dataset.root=FOLDER"
)


def _data_dir() -> Path:
    return Path(os.environ.get("LOOKUP_DATA_DIR", "data"))


def _text(key: str, path: Path) -> str:
    """A checked regular file as UTF-8 text; BadInput naming it otherwise."""
    try:
        return read_bounded(key, path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{key}: {path} is not UTF-8 text ({exc.reason})") from None


def _split(
    name: str,
    captions: list[tuple[str, str]],
    query_images: list[str],
    rng: np.random.Generator,
) -> Dataset:
    """One seeded caption per query image is a query; all other captions form the database."""
    by_image: dict[str, list[int]] = defaultdict(list)
    for i, (image, _) in enumerate(captions):
        by_image[image].append(i)
    chosen = {int(by_image[im][rng.integers(len(by_image[im]))]) for im in query_images}
    q_idx = sorted(chosen)
    db_idx = [i for i in range(len(captions)) if i not in chosen]
    db = [captions[i][1] for i in db_idx]
    queries = [captions[i][1] for i in q_idx]
    db_labels = np.array([captions[i][0] for i in db_idx], dtype=str)
    query_labels = np.array([captions[i][0] for i in q_idx], dtype=str)
    log.info("%s: %d database captions, %d queries", name, len(db), len(queries))
    return Dataset(
        name=name,
        db=db,
        queries=queries,
        db_labels=db_labels,
        query_labels=query_labels,
        fingerprint=fingerprint_texts(db, queries, db_labels.tolist(), query_labels.tolist()),
    )


def load_coco_captions(
    path: str | None = None, *, n_query_images: int = 1000, seed: int = 0
) -> Dataset:
    """MS-COCO caption JSON (``captions_*.json``): a seeded subset of ``n_query_images`` images
    gives one query caption each.
    ``path`` None -> $LOOKUP_DATA_DIR/captions/coco_captions_val2017.json.

    MissingFile for a missing file, BadPath for one that is not a regular file (a FIFO, a
    device: never read); BadInput (one line) when the file is not COCO caption JSON or
    ``n_query_images`` is out of range.
    """
    p = Path(path) if path else _data_dir() / "captions" / "coco_captions_val2017.json"
    p = check_input_file("dataset.path", p, valid=COCO_HINT)
    try:
        obj = json.loads(read_bounded("dataset.path", p).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadInput(
            f"caption file {str(p)!r} is not JSON; expected COCO caption JSON "
            "(captions_*.json with annotations[{image_id, caption}])"
        ) from None
    anns = obj.get("annotations") if isinstance(obj, dict) else None
    if (
        not isinstance(anns, list)
        or not anns
        or not all(isinstance(a, dict) and "image_id" in a and "caption" in a for a in anns)
    ):
        raise BadInput(
            f"caption file {str(p)!r} is not COCO caption JSON; expected a dict whose "
            "'annotations' list holds {image_id, id, caption} objects (captions_*.json)"
        )
    anns = sorted(anns, key=lambda a: (a.get("id", 0), a["image_id"]))
    captions = [(str(a["image_id"]), " ".join(str(a["caption"]).split())) for a in anns]
    images = sorted({im for im, _ in captions}, key=lambda s: (len(s), s))
    if not 1 <= n_query_images < len(images):
        raise BadInput(
            f"n_query_images={n_query_images}; valid: 1..{len(images) - 1} for {p.name} "
            f"({len(images)} images)"
        )
    rng = np.random.default_rng(seed)
    query_images = [images[i] for i in sorted(rng.choice(len(images), n_query_images, False))]
    return _split("coco_captions", captions, query_images, rng)


def load_flickr8k(root: str | None = None, *, query_split: str = "test", seed: int = 0) -> Dataset:
    """Flickr8k: ``Flickr8k.token.txt`` (``IMAGE.jpg#N<TAB>caption``) plus the split lists
    ``Flickr_8k.{train,dev,test}Images.txt``; one query caption per image of ``query_split``.
    ``root`` None -> $LOOKUP_DATA_DIR/captions/flickr8k. Label = image file name without .jpg.
    """
    if query_split not in FLICKR_SPLITS:
        raise BadInput(f"query_split={query_split!r}; valid: {', '.join(FLICKR_SPLITS)}")
    r = Path(root) if root else _data_dir() / "captions" / "flickr8k"
    token_file = r / "Flickr8k.token.txt"
    split_file = r / f"Flickr_8k.{query_split}Images.txt"
    for f in (token_file, split_file):
        check_input_file("dataset.root", f, valid=FLICKR_HINT)
    captions: list[tuple[str, str]] = []
    token_text = _text("dataset.root", token_file)
    for lineno, line in enumerate(token_text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(None, 1)  # a few lines use a space instead of the tab
        if len(parts) != 2 or "#" not in parts[0]:
            raise BadInput(
                f"{token_file.name} line {lineno} is {line[:40]!r}; "
                "expected 'IMAGE.jpg#N<TAB>caption'"
            )
        image = parts[0].split("#", 1)[0]
        captions.append((image.removesuffix(".jpg"), " ".join(parts[1].split())))
    known = {im for im, _ in captions}
    split_text = _text("dataset.root", split_file)
    wanted = [ln.strip().removesuffix(".jpg") for ln in split_text.splitlines()]
    query_images = sorted({im for im in wanted if im in known})
    if not query_images:
        raise BadInput(f"{split_file.name} names no image of {token_file.name}")
    rng = np.random.default_rng(seed)
    return _split("flickr8k", captions, query_images, rng)
