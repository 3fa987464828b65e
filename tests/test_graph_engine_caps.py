"""Resource caps count bytes: a tiny GraphDef must not make tfforge allocate gigabytes, and absurd
shapes or attributes of the wrong kind are one clear error."""

from __future__ import annotations

import numpy as np
import pytest

import tfforge.graph as tg
from tfforge.cli.main import main
from tfforge.errors import GraphError
from tfforge.graph import text
from tfforge.graph.tensor import MAX_EXPANDED_BYTES


def const(dtype: str, dims: list[int], values: str) -> tg.Graph:
    shape = " ".join(f"dim {{ size: {d} }}" for d in dims)
    return tg.Graph.from_bytes(text.parse(
        f'node {{ name: "c" op: "Const" attr {{ key: "value" value {{ tensor {{ dtype: {dtype} '
        f'tensor_shape {{ {shape} }} {values} }} }} }} }}'))


def test_repeated_value_tensor_is_capped_in_bytes():
    # 2**28 complex128 elements from two stored values: 4 GiB of array from a 68-byte GraphDef. The
    # old cap counted elements (2**28 was allowed).
    g = const("DT_COMPLEX128", [2**28], "dcomplex_val: 1 dcomplex_val: 2")
    assert len(g.to_bytes()) < 80
    with pytest.raises(GraphError, match=f"would expand to {2**32} bytes .* {MAX_EXPANDED_BYTES}-byte limit") as e:
        g.node("c").attr["value"].numpy()
    assert e.value.node == "c"
    # the same count of bytes (uint8) is within the cap; a smaller cap is honoured
    small = const("DT_FLOAT", [1000], "float_val: 2.5")
    np.testing.assert_array_equal(small.node("c").attr["value"].numpy(), np.full(1000, 2.5, np.float32))
    with pytest.raises(GraphError, match="4000 bytes"):
        small.node("c").attr["value"].numpy(max_bytes=3999)


def test_string_tensors_count_bytes_per_element():
    g = const("DT_STRING", [2**26], 'string_val: "x"')
    with pytest.raises(GraphError, match="limit"):
        g.node("c").attr["value"].numpy()


def test_overflowing_shape_is_an_error():
    g = const("DT_FLOAT", [2**40, 2**40, 2**40], "float_val: 1")
    with pytest.raises(GraphError, match="would expand"):
        g.node("c").attr["value"].numpy()
    # the native statistics report the element count as unknown instead of overflowing
    assert g._native.const_stats()[0][3] == -1


def test_inspect_placeholder_with_a_dtype_that_is_not_a_type(tmp_path, capsys):
    p = tmp_path / "g.pb"
    p.write_bytes(text.parse('node { name: "x" op: "Placeholder" attr { key: "dtype" value { i: 3 } } }'))
    code = main(["inspect", str(p)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "TypeError" not in captured.err
    assert code == 1 and "expected a DataType, found int 3" in captured.err
