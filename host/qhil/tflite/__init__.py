"""TensorFlow Lite interop: int8 ``.tflite`` policies in, qhil's int8 models out.

:mod:`graph` reads a flatbuffer, :mod:`convert` expresses it in the tflite arithmetic,
:mod:`interpreters` runs TFLM's (the reference) and LiteRT's, :mod:`importer` is ``qhil
import --tflite``; :mod:`ptq`, :mod:`writer` and :mod:`export` are ``qhil export --tflite``.
Needs the ``qhil[tflite]`` extra (``tflite-micro``; ``ai-edge-litert`` optional).
"""
