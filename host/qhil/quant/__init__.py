"""Integer quantization: the spec's host implementation (``docs/quantization.md``).

- :class:`BitConfig`, :func:`parse_bits`: per-layer widths
- :func:`ptq`, :func:`choose_params`, :func:`build_quant_model`: post-training quantization
- :class:`GoldenExecutor`: the bit-exact integer reference for the firmware
- :class:`QuantPolicy`: observation -> input codes -> golden -> env action
- :class:`FakeQuantActor`: the torch simulation that QAT trains
- :func:`write_blob`, :func:`read_blob`: the ``.qhil`` format (``docs/model-format.md``)
"""

from qhil.quant.blob import blob_id, read_blob, write_blob
from qhil.quant.config import BitConfig, parse_bits
from qhil.quant.golden import GoldenExecutor
from qhil.quant.policy import QuantPolicy, dequantize_action, quantize_obs
from qhil.quant.ptq import QuantParams, build_quant_model, choose_params, ptq
from qhil.quant.qmodel import QuantLayer, QuantModel

__all__ = [
    "BitConfig", "parse_bits", "QuantParams", "choose_params", "build_quant_model", "ptq",
    "GoldenExecutor", "QuantPolicy", "quantize_obs", "dequantize_action", "QuantLayer",
    "QuantModel", "write_blob", "read_blob", "blob_id",
]
