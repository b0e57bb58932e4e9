"""The example notebooks run offline, top to bottom, and show what their text says; the Python
API they use follows the CLI's validation and resume rule."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from bench import api
from lookup.errors import BadInput

REPO = Path(__file__).resolve().parents[1]


def test_quickstart_notebook_runs_and_draws_inline(tmp_path: Path) -> None:
    nb = nbformat.read(REPO / "examples" / "quickstart.ipynb", as_version=4)
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},  # the notebook writes under tmp_path
    )
    client.execute(env=dict(os.environ))
    outputs = [c.get("outputs", []) for c in nb.cells if c.cell_type == "code"]
    errors = [o for out in outputs for o in out if o.get("output_type") == "error"]
    assert not errors, errors
    table_html = outputs[0][-1]["data"]["text/html"]
    assert "robustness_at_k_0.9" in table_html and "hnswlib" in table_html
    assert "image/png" in outputs[1][-1]["data"]  # the plot, inline
    assert "ok" in outputs[2][-1]["data"]["text/plain"]
    assert (tmp_path / "outputs" / "quickstart.csv").is_file()
    assert not (REPO / "examples" / "outputs").exists()


def test_api_validates_like_the_cli_and_resumes(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(BadInput, match=r"k=0 is invalid"):
        api.run(dataset="names", k=0, table=str(tmp_path / "t.csv"))
    with pytest.raises(BadInput, match=r"index=nope is invalid"):
        api.run(index="nope", table=str(tmp_path / "t.csv"))
    assert api.overrides_of("names", None, "annoy", ["x=1"], k=5, force=True) == [
        "dataset=names",
        "index=annoy",
        "k=5",
        "force=true",
        "x=1",
    ]
