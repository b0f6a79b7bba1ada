"""Shared fixtures: repository paths, shipped models, and small SB3 models trained on the spot."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "models"


def shipped_model_dirs() -> list[Path]:
    return sorted(p for p in MODELS.glob("*") if (p / "meta.json").is_file())


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(autouse=True)
def _mujoco_log_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # mujoco writes MUJOCO_LOG.TXT into the working directory on warnings.
    monkeypatch.chdir(tmp_path)


# `make check` (the fast lane, -m "not slow") skips what takes long: whole modules that
# start clusters, labs or fuzzers or train, and every test parametrized over an emulated
# core other than qemu-m4 (native and qemu-m4 keep the firmware covered there). SLOW_CASES
# are single cases of fast tests: over qemu-m4's UART the fast lane keeps the vectors and
# random models, while uploading the shipped blobs through its one-byte FIFO (10-15 s) is
# left to `make test` (the Ethernet lane and native check those blobs here); of the TFLite
# import-then-bench test the fast lane keeps the per-channel ReLU policy, not the tanh one
# (10 s).
SLOW_MODULES = {"test_fuzz", "test_lab", "test_remote_device", "test_renode", "test_paper_table",
                "test_autoquant", "test_qat", "test_reliability", "test_cycles", "test_import",
                "test_ethernet_link", "test_sb3_equivalence"}
FAST_TARGETS = {"native", "qemu-m4"}
SLOW_TESTS = {"test_user_project_runs_with_the_plugin", "test_the_docs_example_runs_as_written",
              "test_injected_link_delay_is_caught_by_the_latency_gate",
              "test_readme_ci_gate_never_fails_identical_qemu_runs",
              "test_weights_in_flash_runs_each_model_compiled_into_the_firmware",
              "test_every_environment_builds_offline", "test_closed_loop_on_the_newer_cores",
              "test_a_2bit_blob_under_the_same_name_is_caught_by_the_return_gate",
              "test_a_gdb_server_probe_flashes_an_stm32f405_and_it_benches_bit_exact",
              "test_a_black_magic_upload_runs_the_probes_script_through_real_gdb",
              "test_a_gdb_server_upload_without_a_server_says_so_in_one_line",
              "test_cycles_trace_the_firmware_and_kernel_that_ran",
              "test_a_model_bigger_than_ram_runs_from_flash_and_one_too_big_names_its_room",
              "test_a_usb_port_that_disappears_on_reset_is_waited_for",
              "test_a_burst_longer_than_the_receive_ring_loses_nothing_over_a_uart",
              "test_a_clock_sweep_decides_from_its_own_rows_and_checks_on_the_device",
              "test_a_timed_bench_reports_latency_delay_and_misses_on_device_time",
              "test_the_shipped_policy_flies_on_the_crazyflies_mcu_with_its_latency",
              "test_a_sweep_without_the_device_runs_says_its_decision_is_unconfirmed",
              "test_imitation_clones_the_expert_and_sets_the_normalization"}
SLOW_CASES = {"test_shipped_models_bit_exact[qemu-m4:uart]",
              "test_import_tflite_then_bench_bit_exact[pendulum_tanh_pt-clipped to the action bounds-ram]"}


def _names_a_slow_target(item: pytest.Item) -> bool:
    spec = getattr(item, "callspec", None)
    if spec is None:
        return False
    for value in spec.params.values():
        text = str(value)
        if text.startswith(("qemu-", "renode-")) and text.split(":")[0] not in FAST_TARGETS:
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow = pytest.mark.slow
    for item in items:
        module = item.module.__name__ if item.module is not None else ""
        if (module in SLOW_MODULES or item.originalname in SLOW_TESTS
                or item.name in SLOW_CASES or _names_a_slow_target(item)):
            item.add_marker(slow)
