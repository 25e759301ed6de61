"""bitscale/atomic.py: complete or absent, never half-written; old content kept on failure (#17 item 3)."""

from __future__ import annotations

import json
import os

import pytest

from bitscale.atomic import atomic_path, write_json, write_text


def test_write_replaces_whole_and_keeps_usual_permissions(tmp_path):
    p = tmp_path / "a.json"
    write_json(p, {"x": 1})
    write_json(p, {"x": 2})
    assert json.loads(p.read_text()) == {"x": 2}
    mask = os.umask(0)
    os.umask(mask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~mask
    assert [q.name for q in tmp_path.iterdir()] == ["a.json"]


def test_failure_leaves_the_old_file_and_no_temp(tmp_path):
    p = tmp_path / "b.txt"
    write_text(p, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer died")
    assert p.read_text() == "old"
    assert [q.name for q in tmp_path.iterdir()] == ["b.txt"]
    with pytest.raises(TypeError):  # not serializable: nothing written at all
        write_json(tmp_path / "c.json", {"x": object()})
    assert not (tmp_path / "c.json").exists()
