"""Caption loaders on tiny files written here, plus the real corpora when present."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from lookup.data.captions import load_coco_captions, load_flickr8k

DATA = Path(os.environ.get("LOOKUP_DATA_DIR", Path(__file__).parents[2] / "shared" / "data"))


def _coco(path: Path, n_images: int = 6, per_image: int = 5) -> Path:
    anns = [
        {"image_id": 100 + i, "id": 10 * i + j, "caption": f" image {i}  caption {j} "}
        for i in range(n_images)
        for j in range(per_image)
    ]
    images = [{"id": 100 + i, "file_name": f"{i}.jpg"} for i in range(n_images)]
    path.write_text(json.dumps({"images": images, "annotations": anns[::-1]}))
    return path


def test_coco_split_one_query_per_image(tmp_path: Path) -> None:
    ds = load_coco_captions(str(_coco(tmp_path / "captions_val.json")), n_query_images=2, seed=0)
    assert len(ds.queries) == 2 and len(ds.db) == 28
    assert len(set(ds.query_labels.tolist())) == 2
    assert ds.db_labels.dtype.kind == "U" and set(ds.db_labels) == {str(100 + i) for i in range(6)}
    assert not set(ds.queries) & set(ds.db)
    assert ds.queries[0].startswith("image ") and "  " not in ds.queries[0]
    again = load_coco_captions(str(tmp_path / "captions_val.json"), n_query_images=2, seed=0)
    assert again.fingerprint == ds.fingerprint and again.queries == ds.queries
    other = load_coco_captions(str(tmp_path / "captions_val.json"), n_query_images=2, seed=3)
    assert other.fingerprint != ds.fingerprint


def test_coco_bad_input(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_coco_captions(str(tmp_path / "missing.json"))
    (tmp_path / "instances.json").write_text(json.dumps({"annotations": [{"bbox": [0, 0, 1, 1]}]}))
    with pytest.raises(ValueError, match="is not COCO caption JSON") as e:
        load_coco_captions(str(tmp_path / "instances.json"))
    assert "\n" not in str(e.value)
    (tmp_path / "flickr.txt").write_text("a.jpg#0\ta dog\n")
    with pytest.raises(ValueError, match="is not JSON"):
        load_coco_captions(str(tmp_path / "flickr.txt"))
    with pytest.raises(ValueError, match=r"n_query_images=6; valid: 1\.\.5"):
        load_coco_captions(str(_coco(tmp_path / "c.json")), n_query_images=6)


def test_flickr8k(tmp_path: Path) -> None:
    lines = []
    for i in range(4):
        for j in range(5):
            sep = " " if (i, j) == (1, 2) else "\t"  # the real file has a few such lines
            lines.append(f"im{i}.jpg#{j}{sep}Photo {i} caption {j} .")
    (tmp_path / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
    for split, names in {"train": ["im0", "im1"], "dev": ["im2"], "test": ["im3"]}.items():
        (tmp_path / f"Flickr_8k.{split}Images.txt").write_text("".join(f"{n}.jpg\n" for n in names))
    ds = load_flickr8k(str(tmp_path), query_split="test")
    assert ds.query_labels.tolist() == ["im3"] and len(ds.db) == 19
    ds = load_flickr8k(str(tmp_path), query_split="train", seed=1)
    assert sorted(ds.query_labels.tolist()) == ["im0", "im1"]
    assert "Photo 1 caption 2 ." in ds.db + list(ds.queries)
    with pytest.raises(ValueError, match="query_split='val'; valid: train, dev, test"):
        load_flickr8k(str(tmp_path), query_split="val")
    with pytest.raises(FileNotFoundError):
        load_flickr8k(str(tmp_path / "nope"))


@pytest.mark.skipif(not (DATA / "captions").is_dir(), reason="caption reference data absent")
def test_real_corpora() -> None:
    coco = load_coco_captions(str(DATA / "captions/coco_captions_val2017.json"))
    assert len(coco.queries) == 1000 and len(coco.db) + len(coco.queries) == 25014
    # every query image keeps its other captions in the database
    assert set(coco.query_labels) <= set(coco.db_labels)
    fl = load_flickr8k(str(DATA / "captions/flickr8k"))
    assert len(fl.queries) == 1000 and len(fl.db) + len(fl.queries) == 40460
    assert np.isin(fl.query_labels, fl.db_labels).all()
