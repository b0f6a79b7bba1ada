"""Weight layouts: the order a layer's codes are stored in (``docs/model-format.md#layouts``).

Rows (layout byte 0) is the format's plain order. A *blocked* layout stores the codes in
the order a kernel streams them, so that it can run on the stored bytes without a copy:
``R`` rows by ``G`` codes per group, for each block of rows, for each group of inputs,
for each row of the block, the group's ``G`` codes; rows and inputs are padded with
zero codes to whole blocks and groups. Every group is a whole number of 32-bit words.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from qhil.common.errors import ModelFormatError
from qhil.quant.packing import pack_rows, row_bytes, unpack_rows

__all__ = ["WeightLayout", "ROWS", "KernelOrder"]


@dataclass(frozen=True)
class WeightLayout:
    """``rows`` (R) rows per block by ``group`` (G) codes; ``group == 0`` is plain rows."""

    rows: int = 1
    group: int = 0

    @property
    def is_rows(self) -> bool:
        return self.group == 0

    @property
    def code(self) -> int:
        """The header's layout byte: 0 for rows, else ``log2(R) << 4 | log2(G)``."""
        if self.is_rows:
            return 0
        return (self.rows.bit_length() - 1) << 4 | (self.group.bit_length() - 1)

    @classmethod
    def from_code(cls, code: int) -> WeightLayout:
        """The layout of a header byte; :class:`ModelFormatError` for an undefined one."""
        if code == 0:
            return ROWS
        r, g = code >> 4, code & 15
        if r > 3 or not 2 <= g <= 5:
            raise ModelFormatError(f"layout byte 0x{code:02x} is not defined (R = 2^(byte >> 4) "
                                   "with R <= 8, G = 2^(byte & 15) with 4 <= G <= 32)")
        return cls(1 << r, 1 << g)

    def check(self, w_bits: int) -> None:
        """Groups must be whole 32-bit words of ``w_bits``-bit codes."""
        if not self.is_rows and (self.group * w_bits) % 32:
            raise ModelFormatError(f"layout of {self.rows} rows x {self.group} codes: a group of "
                                   f"{self.group} {w_bits}-bit codes is not whole 32-bit words")

    def size(self, n_in: int, n_out: int, w_bits: int) -> int:
        """Bytes of the weights section."""
        if self.is_rows:
            return n_out * row_bytes(n_in, w_bits)
        blocks, groups = -(-n_out // self.rows), -(-n_in // self.group)
        return blocks * groups * self.rows * self.group * w_bits // 8

    def _order(self, n_in: int, n_out: int) -> tuple[np.ndarray, int, int]:
        """Stored position -> (row, input) index into the padded matrix, and its shape."""
        blocks, groups = -(-n_out // self.rows), -(-n_in // self.group)
        b, g, r, c = np.meshgrid(np.arange(blocks), np.arange(groups), np.arange(self.rows),
                                 np.arange(self.group), indexing="ij")
        padded_in = groups * self.group
        flat = ((b * self.rows + r) * padded_in + g * self.group + c).ravel()
        return flat, blocks * self.rows, padded_in

    def pack(self, codes: np.ndarray, w_bits: int) -> bytes:
        """Codes ``[n_out, n_in]`` as this layout's bytes."""
        if self.is_rows:
            return pack_rows(codes, w_bits)
        self.check(w_bits)
        n_out, n_in = codes.shape
        order, rows, cols = self._order(n_in, n_out)
        padded = np.zeros((rows, cols), dtype=np.int64)
        padded[:n_out, :n_in] = codes
        return pack_rows(padded.ravel()[order][None, :], w_bits)

    def unpack(self, data: bytes, n_out: int, n_in: int, w_bits: int) -> np.ndarray:
        """Inverse of :meth:`pack`; padding codes must be zero. :return: int8 ``[n_out, n_in]``"""
        if self.is_rows:
            return unpack_rows(data, n_out, n_in, w_bits)
        self.check(w_bits)
        order, rows, cols = self._order(n_in, n_out)
        stream = unpack_rows(data, 1, order.size, w_bits)[0]
        flat = np.zeros(rows * cols, dtype=np.int8)
        flat[order] = stream
        padded = flat.reshape(rows, cols)
        if np.any(padded[n_out:]) or np.any(padded[:, n_in:]):
            raise ModelFormatError("non-zero padding codes in a blocked weight layout")
        return padded[:n_out, :n_in].copy()


ROWS = WeightLayout()


class KernelOrder(enum.Enum):
    """Which kernel a blob's weights are laid out for (``qhil export-c --order``).

    ``ROWS`` is the format's plain order, readable by every kernel at reference speed or
    better. ``DSP`` is the order of the Cortex-M4/M7 DSP kernel's loops, which then run on
    the stored weights without a copy: 8-bit layers in blocks of 4 rows x 4 codes, 4-bit
    layers 2 x 8, 2-bit layers 2 x 16; other widths stay in rows.
    """

    ROWS = "rows"
    DSP = "dsp"

    def layout_for(self, w_bits: int) -> WeightLayout:
        if self is KernelOrder.DSP:
            if w_bits == 8:
                return WeightLayout(4, 4)
            if w_bits == 4:
                return WeightLayout(2, 8)
            if w_bits == 2:
                return WeightLayout(2, 16)
        return ROWS

    def layout_of(self, w_bits: int, n_in: int, n_out: int, pad_free: bool = False
                  ) -> WeightLayout:
        """A layer's layout in this order; with ``pad_free``, rows wherever the blocks would
        pad it (a narrow input, a few output rows): its kernel then runs that layer on
        rows, slower, in the bytes of the model itself."""
        layout = self.layout_for(w_bits)
        if pad_free and layout.size(n_in, n_out, w_bits) > ROWS.size(n_in, n_out, w_bits):
            return ROWS
        return layout

    @classmethod
    def parse(cls, text: str) -> KernelOrder:
        try:
            return cls(text)
        except ValueError:
            raise ValueError(f"weight order '{text}': choose one of "
                             f"{', '.join(k.value for k in cls)}") from None
