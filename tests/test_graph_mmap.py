"""Inputs that change under tfforge. Files of 16 MiB and more are memory-mapped: truncating one after
it was loaded used to kill the process with SIGBUS (and leave the output's temp file), and rewriting
it in place silently changed the loaded Graph. Now both are a GraphError naming the file, and
nothing is written. Smaller files are read into memory, so a loaded Graph cannot change at all."""

from __future__ import annotations

import os

import pytest

import tfforge.graph as tg
from tfforge.errors import GraphError
from tfforge.graph import text
from wire_bytes import MAP_THRESHOLD, const_graph


@pytest.fixture(scope="module")
def big_bytes():
    return const_graph(MAP_THRESHOLD + (1 << 20))


def leftovers(directory) -> list[str]:
    return sorted(p for p in os.listdir(directory) if ".tmp" in p)


def rewrite_in_place(path, offset: int) -> None:
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"\xee" * 4096)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # past any timestamp granularity


def test_truncated_mapped_file_is_an_error_not_sigbus(tmp_path, big_bytes):
    src = tmp_path / "big.pb"
    src.write_bytes(big_bytes)
    g = tg.load(src)
    assert len(g) == 2
    os.truncate(src, 1 << 20)
    # Reading the tensor touches pages past the new end of the file: formerly SIGBUS (exit 135).
    with pytest.raises(GraphError, match="changed while tfforge was using it") as e:
        g.node("big").attr["value"].numpy()
    assert e.value.path == str(src)
    with pytest.raises(GraphError, match=r"\d+ bytes when opened, 1048576 now"):
        g.to_bytes()
    out = tmp_path / "out.pb"
    with pytest.raises(GraphError, match="changed while"):
        g.save(out)
    with pytest.raises(GraphError, match="changed while"):
        g.save(tmp_path / "out.pbtxt")
    assert not out.exists() and not (tmp_path / "out.pbtxt").exists()
    assert leftovers(tmp_path) == []


def test_rewritten_mapped_file_is_an_error_not_different_bytes(tmp_path, big_bytes):
    src = tmp_path / "big.pb"
    src.write_bytes(big_bytes)
    g = tg.load(src)
    rewrite_in_place(src, len(big_bytes) // 2)
    with pytest.raises(GraphError, match="rewritten in place"):
        g.to_bytes()
    with pytest.raises(GraphError, match="changed while"):
        g.node("big").attr["value"].numpy()
    with pytest.raises(GraphError, match="changed while"):
        g.apply("strip_unused_nodes", outputs=["after"]).save(tmp_path / "out.pb")
    assert not (tmp_path / "out.pb").exists() and leftovers(tmp_path) == []


def test_to_text_of_a_changed_file_writes_nothing(tmp_path, big_bytes):
    src = tmp_path / "big.pb"
    src.write_bytes(big_bytes)
    g = tg.load(src)
    os.truncate(src, len(big_bytes) - 4096)  # the Const's last page and the second node are gone
    with pytest.raises(GraphError, match="changed while"):
        g.save(tmp_path / "g.pbtxt")
    assert leftovers(tmp_path) == []
    # an unchanged mapped file converts as usual
    src.write_bytes(big_bytes)
    text.binary_to_text(str(src), str(tmp_path / "g.pbtxt"))
    assert tg.load(tmp_path / "g.pbtxt").to_bytes() == big_bytes


def test_small_files_are_private_copies(tmp_path):
    data = const_graph(1000)
    src = tmp_path / "small.pb"
    src.write_bytes(data)
    g = tg.load(src)
    rewrite_in_place(src, 0)
    assert g.to_bytes() == data
    os.truncate(src, 10)
    assert g.to_bytes() == data
    assert g.node("big").attr["value"].numpy()[250] == 250
