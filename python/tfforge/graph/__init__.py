"""GraphDef engine over the protobuf wire format. Works without TensorFlow installed.

    g = tfforge.graph.load("model.pb")          # .pb, .pbtxt, .meta or a SavedModel directory
    g.nodes, g.node("logits").attr["T"]
    small = g.apply("strip_unused_nodes remove_device", inputs=["x"], outputs=["logits"])
    small.save("small.pb")                       # or .pbtxt
"""

from tfforge.graph.graph import AttrMap, Graph, Node
from tfforge.formats import detect as detect_kind
from tfforge.graph.loader import load
from tfforge.graph.tensor import Tensor

__all__ = ["AttrMap", "Graph", "Node", "Tensor", "detect_kind", "load"]
