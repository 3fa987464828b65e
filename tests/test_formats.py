"""tfforge.formats: one detector for every command, by content: a text GraphDef named .pb, a binary one
named .pbtxt, MetaGraphDefs and SavedModels in either encoding, checkpoints (V2 and V1), .tflite,
.keras, .h5; and every command that reads a graph uses it."""

from __future__ import annotations

import os
import zipfile

import pytest

import tfforge.graph as tg
from tfforge import formats
from tfforge.cli.main import main
from tfforge.errors import ConversionError, FormatError, GraphError
from tfforge.graph import text

GRAPH_TEXT = """
node { name: "x" op: "Placeholder" attr { key: "dtype" value { type: DT_FLOAT } }
       attr { key: "shape" value { shape { dim { size: -1 } dim { size: 3 } } } } }
node { name: "y" op: "Neg" input: "x" attr { key: "T" value { type: DT_FLOAT } } }
node { name: "unused" op: "Const" attr { key: "dtype" value { type: DT_FLOAT } }
       attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape { } float_val: 1 } } } }
versions { producer: 1000 }
"""
META_TEXT = 'meta_info_def { tags: "serve" tensorflow_version: "2.21.0" }\ngraph_def {' + GRAPH_TEXT + "}\n"
SAVED_MODEL_TEXT = "saved_model_schema_version: 1\nmeta_graphs {" + META_TEXT + "}\n"


@pytest.fixture
def files(tmp_path):
    """Each message in each encoding, under names that say the opposite."""
    graph = text.parse(GRAPH_TEXT, text.GRAPH_DEF)
    meta = text.parse(META_TEXT, text.META_GRAPH_DEF)
    saved = text.parse(SAVED_MODEL_TEXT, text.SAVED_MODEL)
    out = {}
    for name, data in [("text_graph.pb", GRAPH_TEXT.encode()), ("binary_graph.pbtxt", graph),
                       ("graph_no_suffix", graph), ("text_meta.pb", META_TEXT.encode()), ("binary_meta.txt", meta),
                       ("saved_model_text.pb", SAVED_MODEL_TEXT.encode()), ("saved_model_binary.bin", saved)]:
        (tmp_path / name).write_bytes(data)
        out[name] = str(tmp_path / name)
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(saved)
    out["sm"] = str(tmp_path / "sm")
    return out


def test_graph_messages_by_content_not_name(files):
    expect = {"text_graph.pb": formats.GRAPHDEF_TEXT, "binary_graph.pbtxt": formats.GRAPHDEF,
              "graph_no_suffix": formats.GRAPHDEF, "text_meta.pb": formats.META_GRAPH_TEXT,
              "binary_meta.txt": formats.META_GRAPH, "saved_model_text.pb": formats.SAVED_MODEL,
              "saved_model_binary.bin": formats.SAVED_MODEL, "sm": formats.SAVED_MODEL}
    assert {name: formats.detect(path) for name, path in files.items()} == expect
    for name, path in files.items():  # every encoding loads to the same nodes
        g = tg.load(path)
        assert [n.name for n in g.nodes] == ["x", "y", "unused"], name
        assert g.node("y").inputs == ["x"]


def test_other_formats_by_signature(tmp_path):
    tflite = tmp_path / "model.bin"
    tflite.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(40))
    keras = tmp_path / "model.zip"
    with zipfile.ZipFile(keras, "w") as z:
        z.writestr("config.json", "{}")
    h5 = tmp_path / "weights"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    assert [formats.detect(p) for p in (tflite, keras, h5)] == [formats.TFLITE, formats.KERAS, formats.KERAS_H5]


def test_unknown_content_is_one_error_for_graph_and_convert_callers(tmp_path):
    junk = tmp_path / "notes.pb"
    junk.write_bytes(b"\x00\x01garbage\xff")
    with pytest.raises(FormatError, match="cannot tell what kind") as info:
        formats.detect(junk)
    assert isinstance(info.value, GraphError) and isinstance(info.value, ConversionError)
    bad_keras = tmp_path / "m.keras"
    bad_keras.write_bytes(b"not a zip")
    with pytest.raises(FormatError, match="not a zip archive"):
        formats.detect(bad_keras)
    with pytest.raises(FormatError, match="no such file"):
        formats.detect(tmp_path / "missing")
    with pytest.raises(FormatError, match="neither a SavedModel"):
        formats.detect(tmp_path)


def test_from_text_and_to_text_pick_the_message_from_the_content(files, tmp_path, capsys):
    for name, message in [("text_graph.pb", "GraphDef"), ("text_meta.pb", "MetaGraphDef"),
                          ("saved_model_text.pb", "SavedModel")]:
        out = tmp_path / (name + ".bin")
        assert main(["graph", "from-text", files[name], str(out)]) == 0
        assert f"({message}," in capsys.readouterr().out
        back = tmp_path / (name + ".txt")
        assert main(["graph", "to-text", str(out), str(back)]) == 0
        assert f"({message}," in capsys.readouterr().out
    odd = tmp_path / "odd.pbtxt"
    odd.write_text('tensor_shape { dim { size: 1 } }\n')
    assert main(["graph", "from-text", str(odd), str(tmp_path / "odd.pb")]) == 1
    assert "--type" in capsys.readouterr().err


def test_graph_commands_read_a_text_graph_named_pb(files, tmp_path, capsys):
    src = files["text_graph.pb"]
    assert main(["inspect", src, "--json"]) == 0
    assert '"graphdef_text"' in capsys.readouterr().out
    out = tmp_path / "stripped.pb"
    assert main(["graph", "transform", src, str(out), "--inputs", "x", "--outputs", "y",
                 "--transforms", "strip_unused_nodes"]) == 0
    assert [n.name for n in tg.load(out).nodes] == ["x", "y"]
    assert main(["graph", "tensorboard", src, str(tmp_path / "logs")]) == 0


@pytest.mark.tensorflow
def test_freeze_convert_verify_read_a_text_graph_named_pb(files, tmp_path):
    """freeze_graph's input_binary=False case, and the convert / verify paths, on a .pb holding text."""
    pytest.importorskip("tensorflow")
    from tfforge.convert import convert, freeze, verify
    src = files["text_graph.pb"]
    result = freeze(src, tmp_path / "frozen.pb", outputs="y")
    assert result.outputs == ["y:0"]
    assert [n.name for n in tg.load(tmp_path / "frozen.pb").nodes] == ["x", "y"]
    convert(src, str(tmp_path / "converted"), "savedmodel", inputs="x", outputs="y")
    assert verify(src, str(tmp_path / "frozen.pb")).max_abs == 0.0


@pytest.mark.tensorflow
def test_checkpoints_v2_and_v1(tmp_path):
    tf = pytest.importorskip("tensorflow")
    v1 = tf.compat.v1
    for version, sub in ((v1.train.SaverDef.V2, "v2"), (v1.train.SaverDef.V1, "v1")):
        (tmp_path / sub).mkdir()
        with tf.Graph().as_default():
            v1.get_variable("v", [2])
            saver = v1.train.Saver(write_version=version)
            with v1.Session() as sess:
                sess.run(v1.global_variables_initializer())
                saver.save(sess, str(tmp_path / sub / "model.ckpt"))
    v2 = str(tmp_path / "v2" / "model.ckpt")
    for path in (v2, v2 + ".index", v2 + ".data-00000-of-00001", str(tmp_path / "v2"),
                 str(tmp_path / "v2" / "checkpoint")):
        assert formats.detect(path) == formats.CHECKPOINT, path
        assert formats.checkpoint_prefix(path) == v2, path
    v1_prefix = str(tmp_path / "v1" / "model.ckpt")
    for path in (v1_prefix, str(tmp_path / "v1")):
        assert formats.detect(path) == formats.CHECKPOINT and formats.checkpoint_prefix(path) == v1_prefix
    assert formats.v1_checkpoint_files(v1_prefix) == [v1_prefix] and formats.v1_checkpoint_files(v2) == []
    assert formats.detect(v2 + ".meta") == formats.META_GRAPH
    with pytest.raises(GraphError, match="checkpoint file, not a graph"):
        tg.load(v2)


def test_one_detector():
    """The convert package and the graph loader have no detector of their own any more."""
    import tfforge.graph.loader as loader
    assert not hasattr(loader, "detect_kind")
    with pytest.raises(ImportError):
        __import__("tfforge.convert.formats")
    assert tg.detect_kind is formats.detect
    assert os.path.basename(formats.__file__) == "formats.py"


@pytest.mark.tensorflow
def test_freeze_reads_a_text_meta_graph(tmp_path):
    """A .meta exported with as_text=True freezes like a binary one."""
    tf = pytest.importorskip("tensorflow")
    from tfforge.convert import freeze
    v1 = tf.compat.v1
    with tf.Graph().as_default():
        x = v1.placeholder(tf.float32, [None, 2], name="x")
        w = v1.get_variable("w", [2, 2], initializer=v1.ones_initializer())
        tf.matmul(x, w, name="y")
        saver = v1.train.Saver()
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "model.ckpt"))
        saver.export_meta_graph(str(tmp_path / "text.meta"), as_text=True)
    assert formats.detect(tmp_path / "text.meta") == formats.META_GRAPH_TEXT
    result = freeze(prefix, tmp_path / "frozen.pb", meta=str(tmp_path / "text.meta"))
    assert result.outputs == ["y:0"]
    assert tg.load(tmp_path / "frozen.pb").node("w").op == "Const"
