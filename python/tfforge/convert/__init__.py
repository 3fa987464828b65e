"""Freeze, convert and export TensorFlow models between formats, with parity checks.

    tfforge.convert.freeze(src, "model.pb")               # checkpoint / SavedModel / Keras -> frozen .pb
    tfforge.convert.convert(src, dst, to="savedmodel")    # savedmodel | frozen | pb | pbtxt | tflite
    tfforge.convert.verify(a, b)                          # max abs / rel error per output
    tfforge.convert.decompose_tfforge_ops(graph_def)      # tfforge custom ops -> built-in TF ops
    tfforge.convert.xnnpack_delegation("m.tflite")        # how much of it LiteRT's XNNPack delegate takes

Needs TensorFlow; importing this package does not import it until a function is called.
"""

from tfforge.convert.api import FreezeResult, freeze, load_frozen
from tfforge.convert.conversions import ConvertResult, convert
from tfforge.convert.decompose import decompose_tfforge_ops
from tfforge.convert.litert_delegation import Delegation, xnnpack_delegation
from tfforge.convert.tflite_export import export_tflite
from tfforge.convert.verify import ParityReport, verify

__all__ = ["ConvertResult", "Delegation", "FreezeResult", "ParityReport", "convert", "decompose_tfforge_ops",
           "export_tflite", "freeze", "load_frozen", "verify", "xnnpack_delegation"]
