"""The README walked in order, as a new user would (slow: every command runs, on tiny data, in a
copy of this checkout, on one results table and one cache; see tests/readme_walk.py)."""

from __future__ import annotations

import pytest
import readme_walk


@pytest.mark.slow
def test_every_readme_command_in_order(tmp_path, data_dir) -> None:
    repo = readme_walk.copy_checkout(readme_walk.REPO, tmp_path / "repo")
    results = readme_walk.walk(repo, tmp_path / "work")
    print(readme_walk.table(results))
    bad = [f"{r.command}: {r.problem}" for r in results if r.problem]
    assert not bad, "\n".join(bad)
    assert readme_walk._tracked_changes(repo) == [] or all(
        any(p.startswith(g) for s in readme_walk.WALK for g in s.regenerates)
        for p in readme_walk._tracked_changes(repo)
    )


def test_every_readme_command_has_a_walk_rule() -> None:
    """A new README command needs a decision here too: how it is made small, or why skipped."""
    text = (readme_walk.REPO / "README.md").read_text()
    missing = [c for c in readme_walk.readme_commands(text) if readme_walk.step_for(c) is None]
    assert not missing, missing
