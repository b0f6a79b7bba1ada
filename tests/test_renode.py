"""The STM32F4 firmware under Renode, when Renode is installed (it cannot be on CI here)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from qhil.common.errors import QhilError
from qhil.quant.vectors import load_cases
from qhil.targets import start_target

HAVE_RENODE = shutil.which("renode") is not None


@pytest.mark.skipif(not HAVE_RENODE, reason="renode is not on PATH (not installable on this "
                                             "machine kind); qemu-stm32f4 covers the same firmware")
def test_renode_vectors_bit_exact() -> None:
    with start_target("renode-stm32f4", timeout=5.0) as target:
        assert target.device.info is not None and target.device.info.cpu == "cortex-m4"
        for case in load_cases()[:8]:
            target.device.load(case.blob)
            got = np.stack([target.device.infer(x)[0] for x in case.inputs])
            np.testing.assert_array_equal(got, case.outputs, err_msg=case.name)


@pytest.mark.skipif(HAVE_RENODE, reason="renode is installed")
def test_missing_renode_is_a_clear_error() -> None:
    with pytest.raises(QhilError, match="renode is not on PATH"):
        start_target("renode-stm32f4")
