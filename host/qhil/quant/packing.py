"""Dense packing of b-bit two's-complement weight codes (``docs/model-format.md#weights``).

Each row (one output channel) is a little-endian bit stream: code ``k`` of the row
occupies stream bits ``[k*b, (k+1)*b)``, least significant bit first, and stream bit
``i`` is bit ``i % 8`` of byte ``i // 8`` of the row. Rows start on a byte boundary and
padding bits are zero. For b = 8 this is plain int8; b = 4 puts code 0 in the low nibble.
"""

from __future__ import annotations

import numpy as np

from qhil.common.errors import ModelFormatError

__all__ = ["pack_rows", "unpack_rows", "row_bytes"]


def row_bytes(n_in: int, bits: int) -> int:
    return (n_in * bits + 7) // 8


def pack_rows(codes: np.ndarray, bits: int) -> bytes:
    """Pack int codes ``[n_out, n_in]`` (each fitting ``bits`` signed) into row-aligned bytes."""
    n_out, n_in = codes.shape
    u = (codes.astype(np.int64) & ((1 << bits) - 1)).astype(np.uint8)
    stream = np.unpackbits(u[..., None], axis=-1, bitorder="little")[..., :bits]
    stream = stream.reshape(n_out, n_in * bits)
    pad = row_bytes(n_in, bits) * 8 - n_in * bits
    if pad:
        stream = np.concatenate([stream, np.zeros((n_out, pad), dtype=np.uint8)], axis=1)
    return np.packbits(stream, axis=1, bitorder="little").tobytes()


def unpack_rows(data: bytes, n_out: int, n_in: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_rows`; rejects non-zero padding bits.

    :return: int8 codes ``[n_out, n_in]``
    """
    rb = row_bytes(n_in, bits)
    if len(data) != n_out * rb:
        raise ModelFormatError(f"weights are {len(data)} bytes, expected {n_out * rb}")
    raw = np.frombuffer(data, dtype=np.uint8).reshape(n_out, rb)
    stream = np.unpackbits(raw, axis=1, bitorder="little")
    if np.any(stream[:, n_in * bits:]):
        raise ModelFormatError("non-zero padding bits after a weight row")
    fields = stream[:, : n_in * bits].reshape(n_out, n_in, bits).astype(np.int16)
    values = (fields << np.arange(bits, dtype=np.int16)).sum(axis=-1)
    signed = np.where(values >= 1 << (bits - 1), values - (1 << bits), values)
    return signed.astype(np.int8)
