"""Freeze, convert and export TensorFlow models between formats, with parity checks.

    tfforge.convert.freeze(src, "model.pb")               # checkpoint / SavedModel / Keras -> frozen .pb
    tfforge.convert.convert(src, dst, to="savedmodel")    # savedmodel | frozen | pb | pbtxt | tflite
    tfforge.convert.verify(a, b)                          # max abs / rel error per output

Needs TensorFlow; importing this package does not import it until a function is called.
"""

from tfforge.convert.api import FreezeResult, freeze, load_frozen

__all__ = ["FreezeResult", "freeze", "load_frozen"]
