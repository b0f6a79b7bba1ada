"""qhil: a hardware-in-the-loop testbench for integer-quantized RL policies.

The public entry points are the ``qhil`` CLI and the modules below:

- :mod:`qhil.common`  float actor, model folders, env helpers, errors
- :mod:`qhil.train`   float baselines with stable-baselines3
- :mod:`qhil.quant`   integer quantization spec, PTQ, golden executor, blob format
"""

__version__ = "0.1.0"
