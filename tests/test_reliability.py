"""Reliability on the real firmware: a damaged link, a device reset, killed or silent
mid-episode, a bench killed and resumed, and bad input refused before the first episode."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from qhil.bench.policies import resolve_policies
from qhil.bench.session import DeviceSession
from qhil.bench.store import RunStore
from qhil.cli.main import main
from qhil.common.errors import ConfigError, QhilError
from qhil.common.model_dir import load_model_dir
from qhil.harness.campaign import Bench
from qhil.harness.settings import BenchSettings
from qhil.link.faults import FaultyTransport, LinkFaults, parse_link_faults
from qhil.link.transport import Transport
from qhil.quant.pipeline import Calibrator, PTQOptions
from qhil.report.build import load_report
from qhil.targets import TargetSettings, start_target

ROOT = Path(__file__).resolve().parents[1]
PENDULUM = ROOT / "models" / "Pendulum-v1"
W3 = PENDULUM / "qat_w3.qhil"
BENCH_ARGS = ["--model", str(PENDULUM), "--target", "native", "--variants", "float,int8",
              "--blob", str(W3), "--episodes", "3", "--seed", "0", "--calib-episodes", "3"]


def returns(report: dict) -> dict[str, list[float]]:
    return {v["name"]: v["return"]["per_episode"] for v in report["variants"]}


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("clean") / "run"
    assert main(["-q", "bench", *BENCH_ARGS, "-o", str(out)]) == 0
    return load_report(out / "report.json")


# -- the fault-injecting transport on its own -------------------------------------------------

class Loopback(Transport):
    def __init__(self) -> None:
        self.buf = bytearray()

    def write(self, data: bytes) -> None:
        self.buf += data

    def read(self, max_bytes: int, timeout: float) -> bytes:
        out = bytes(self.buf[:max_bytes])
        del self.buf[:max_bytes]
        return out

    def close(self) -> None:
        pass


def test_fault_rates_are_what_was_asked() -> None:
    t = FaultyTransport(Loopback(), LinkFaults(flip=0.01, drop=0.02, dup=0.005, seed=4))
    data = bytes(range(1, 256)) * 400
    t.write(data)
    got = t.inner.read(10**7, 0)
    n = len(data)
    assert abs(t.injected.drop / n - 0.02) < 0.003 and abs(t.injected.flip / n - 0.01) < 0.002
    assert len(got) == n - t.injected.drop + t.injected.dup
    assert FaultyTransport(Loopback(), LinkFaults())._damage(data) == (data, 0)


def test_delayed_bytes_keep_their_order() -> None:
    inner = Loopback()
    t = FaultyTransport(inner, LinkFaults(delay=0.05, delay_ms=1, seed=1))
    data = bytes(range(1, 200)) * 5
    inner.write(data)
    got = bytearray()
    deadline = time.monotonic() + 5
    while len(got) < len(data) and time.monotonic() < deadline:
        got += t.read(64, 0.01)
    assert bytes(got) == data and t.injected.delay > 0


@pytest.mark.parametrize("text, message", [
    ("flip=2", "not a rate"), ("jitter=1e-3", "is not one of"), ("drop=x", "not a number"),
    ("delay_ms=-1", ">= 0")])
def test_bad_fault_specs_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_link_faults(text)


# -- a damaged link -----------------------------------------------------------------------

def test_damaged_link_gives_the_clean_results(clean: dict, tmp_path: Path) -> None:
    out = tmp_path / "faulty"
    code = main(["-q", "bench", *BENCH_ARGS, "-o", str(out), "--timeout", "0.3",
                 "--link-faults", "flip=1e-3,drop=1e-3,dup=1e-4,delay=1e-4,delay_ms=20,seed=3"])
    assert code == 0
    report = load_report(out / "report.json")
    assert returns(report) == returns(clean)
    link = report["link"]
    assert link["injected_flip"] > 0 and link["injected_drop"] > 0
    assert link["retries"] > 0 and link["corrupt_frames"] > 0
    assert report["link"]["faults_injected"].startswith("flip=0.001")
    for v in report["variants"]:
        if v["kind"] == "device-int":
            assert v["bit_exact"]["mismatches"] == 0 and v["bit_exact"]["checked_steps"] == 600


# -- a device that resets, dies or goes silent mid-episode --------------------------------------

class Saboteur(DeviceSession):
    """Does something bad to the real device at given inference counts."""

    def __init__(self, target, plan: dict[int, str]) -> None:
        super().__init__(target)
        self.plan = plan
        self.calls = 0

    def infer(self, codes: np.ndarray) -> tuple[np.ndarray, int]:
        self.calls += 1
        what = self.plan.get(self.calls)
        proc = self.target.process
        if what == "reset":
            self.device.reset()  # the device forgets its model
        elif what == "kill":
            assert proc is not None
            proc.kill()
            proc.wait()
        elif what == "silence":
            assert proc is not None
            proc.send_signal(signal.SIGSTOP)
        return super().infer(codes)


@pytest.mark.parametrize("target_name", ["native", "qemu-m4"])
def test_reset_kill_and_silence_mid_episode_are_survived(clean: dict, tmp_path: Path,
                                                         target_name: str) -> None:
    model = load_model_dir(PENDULUM)
    variants = resolve_policies(model, ["int8"], [W3], Calibrator(model, PTQOptions(3)))
    target = start_target(target_name, timeout=0.3)
    session = Saboteur(target, {57: "reset", 140: "kill", 290: "silence"})
    try:
        store = RunStore.create(tmp_path / "run", {"settings": {}})
        bench = Bench(model, variants, [0, 1, 2], [0.0], store, session, {"name": target_name},
                      0.05)
        bench.run()
        report = bench.write(final=False)
    finally:
        target.stop()
    assert returns(report) == {k: v for k, v in returns(clean).items() if k != "float"}
    incidents = report["incidents"]
    assert [i["action"] for i in incidents] == ["reloaded the model", "restarted the target",
                                                "restarted the target"]
    assert incidents[0]["problem"].startswith("device lost its model")
    assert incidents[1]["variant"] == "int8" and incidents[1]["seed"] == 0
    assert all(v["bit_exact"]["mismatches"] == 0 for v in report["variants"])
    assert report["complete"]


def test_a_device_that_cannot_be_brought_back_stops_the_run_cleanly(tmp_path: Path) -> None:
    model = load_model_dir(PENDULUM)
    variants = resolve_policies(model, [], [W3], Calibrator(model, PTQOptions(3)))
    target = start_target("native", timeout=0.2)
    session = DeviceSession(target, max_repairs=1)
    target.restart = lambda: (_ for _ in ()).throw(QhilError("cannot start"))  # type: ignore
    try:
        store = RunStore.create(tmp_path / "run", {"settings": {}})
        bench = Bench(model, variants, [0, 1], [0.0], store, session, {"name": "native"}, 0.05)
        original = session.infer
        calls = {"n": 0}

        def infer(codes):
            calls["n"] += 1
            if calls["n"] == 250:  # in the second episode
                assert target.process is not None
                target.process.kill()
            return original(codes)

        session.infer = infer  # type: ignore[method-assign]
        with pytest.raises(QhilError, match="cannot start"):
            bench.run()
    finally:
        target.stop()
    # the first episode is saved; the second is not, and will run again on --resume
    assert [p.name for p in (tmp_path / "run" / "episodes").glob("*.json")] == \
        ["qat_w3~0~0.json"]


# -- killed and resumed ----------------------------------------------------------------------

def _default_sigint() -> None:
    # A CI job started in the background of a non-interactive shell inherits SIGINT
    # ignored, and Python then installs no KeyboardInterrupt handler: Ctrl-C must work
    # in the bench under test whatever the runner did.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _bench_process(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "qhil.cli.main", "-q", "bench", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)


def _wait_for_episodes(out: Path, count: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while len(list((out / "episodes").glob("*.json"))) < count:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_killed_run_resumes_to_the_same_report(clean: dict, tmp_path: Path, how: int) -> None:
    out = tmp_path / "run"
    # Every frame held back 2 ms: a device episode takes ~1 s, so the signal lands mid-run
    # however idle the machine (the float episodes alone finish in milliseconds).
    slow = ["--link-faults", "delay=1,delay_ms=2"]
    proc = _bench_process(*BENCH_ARGS, *slow, "-o", str(out))
    _wait_for_episodes(out, 4, proc)
    firmware = _children(proc.pid)
    assert firmware, "the bench runs the native firmware as its child"
    os.kill(proc.pid, how)
    _, err = proc.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in firmware):  # even SIGKILL leaves nothing running
        assert time.monotonic() < deadline, "the native firmware outlived the killed bench"
        time.sleep(0.05)
    partial = json.loads((out / "report.json").read_text())  # valid JSON, whatever the moment
    assert partial["complete"] is False
    assert partial["progress"]["episodes_done"] < partial["progress"]["episodes_total"] == 9
    if how == signal.SIGINT:
        assert proc.returncode == 130 and f"qhil bench --resume {out}" in err
        assert (out / "report.html").exists()
    # a second run into the same folder is refused: nothing is overwritten
    assert main(["-q", "bench", *BENCH_ARGS, *slow, "-o", str(out)]) == 2
    assert main(["-q", "bench", "--resume", str(out)]) == 0
    final = load_report(out / "report.json")
    assert final["complete"] and returns(final) == returns(clean)
    assert [v["percent_of_float"] for v in final["variants"]] == \
        [v["percent_of_float"] for v in clean["variants"]]


def test_resume_refuses_a_changed_model(tmp_path: Path) -> None:
    out = tmp_path / "run"
    settings = BenchSettings(model=str(PENDULUM), variants=("int8",), episodes=1, seed=0,
                             device=TargetSettings("native"), ptq=PTQOptions(3))
    store = RunStore.create(out, {"settings": settings.to_plan(),
                                  "model_ids": {"int8": "0x00000000"}})
    assert store.done() == {}
    proc = subprocess.run([sys.executable, "-m", "qhil.cli.main", "bench", "--resume", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "the models changed" in proc.stderr


# -- bad input, refused before the first episode ------------------------------------------------

def test_model_too_large_for_the_arena_is_refused_before_any_episode(tmp_path: Path) -> None:
    out = tmp_path / "r"
    proc = subprocess.run(
        [sys.executable, "-m", "qhil.cli.main", "bench", "--model",
         str(ROOT / "models" / "HalfCheetah-v5"), "--target", "qemu-m0",
         "--variants", "device-f32", "--episodes", "1", "-o", str(out)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "variant 'device-f32' cannot run on qemu-m0" in proc.stderr
    # refused from HELLO's limits, before any upload: the device image's bytes, and the room
    from qhil.common.model_dir import load_model_dir
    from qhil.quant.blob import write_blob

    image = write_blob(load_model_dir(ROOT / "models" / "HalfCheetah-v5").actor, device=True)
    assert f"the model needs {len(image):,} bytes of model arena" in proc.stderr
    assert "has 9,216" in proc.stderr
    assert list((out / "episodes").glob("*.json")) == []


def test_nan_observation_is_a_clear_error(tmp_path: Path) -> None:
    blob = str(W3)
    proc = subprocess.run([sys.executable, "-m", "qhil.cli.main", "run", "--target", "native",
                           "--blob", blob, "--obs", "1,nan,0"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "NaN/inf at index 1" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "qhil.cli.main", "run", "--target", "native",
                           "--blob", blob, "--obs", "1,0"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "expects 3" in proc.stderr


def test_nan_from_the_env_stops_with_episodes_saved(tmp_path: Path) -> None:
    import gymnasium as gym

    from qhil.bench.runner import run_bench_episode

    model = load_model_dir(PENDULUM)

    class Broken(gym.Wrapper):
        def step(self, action):
            obs, r, term, trunc, info = self.env.step(action)
            return obs * np.nan, r, term, trunc, info

    variants = resolve_policies(model, ["float"], [], Calibrator(model, PTQOptions(3)))
    with pytest.raises(QhilError, match="NaN/inf observation at seed 5 step 1"):
        run_bench_episode(variants[0], model.actor, Broken(gym.make("Pendulum-v1")), 5, None)


def test_preflight_refuses_widths_the_device_lacks() -> None:
    from types import SimpleNamespace

    from qhil.harness.campaign import preflight

    model = load_model_dir(PENDULUM)
    variants = resolve_policies(model, [], [W3], Calibrator(model, PTQOptions(3)))
    from qhil.targets.info import ModelRoom, WeightsIn

    info = SimpleNamespace(widths=(4, 8), float32=True)  # a firmware without 3-bit kernels
    target = SimpleNamespace(model_room=lambda _: ModelRoom(1 << 20, "model arena"))
    session = SimpleNamespace(device=SimpleNamespace(info=info), target=target,
                              weights_in=WeightsIn.RAM)
    with pytest.raises(QhilError, match="does not support 3-bit weights"):
        preflight(variants, session, "board-x")  # type: ignore[arg-type]


def test_resume_after_a_relative_model_path_works_from_another_directory(clean: dict,
                                                                       tmp_path: Path) -> None:
    """Blob bytes depend on the model and settings only, never on how its path was typed."""
    repo = PENDULUM.parents[1]
    out = tmp_path / "run"
    rel = [str(PENDULUM.relative_to(repo)) if a == str(PENDULUM) else
           str(W3.relative_to(repo)) if a == str(W3) else a for a in BENCH_ARGS]
    proc = subprocess.Popen([sys.executable, "-m", "qhil.cli.main", "-q", "bench", *rel,
                             "-o", str(out)], cwd=repo, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for_episodes(out, 2, proc)
    os.kill(proc.pid, signal.SIGINT)
    proc.communicate(timeout=60)
    resumed = subprocess.run([sys.executable, "-m", "qhil.cli.main", "-q", "bench", "--resume",
                              str(out)], cwd=tmp_path, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    final = load_report(out / "report.json")
    assert final["complete"] and returns(final) == returns(clean)


def test_a_refused_start_saves_no_run_and_resume_says_what_to_do(tmp_path: Path) -> None:
    out = tmp_path / "run"
    bad = subprocess.run([sys.executable, "-m", "qhil.cli.main", "bench", *BENCH_ARGS,
                          "--target", "qemu-m5", "-o", str(out)], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and not (out / "run.json").exists()
    again = subprocess.run([sys.executable, "-m", "qhil.cli.main", "bench", "--resume", str(out)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "start it again with --model" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


class _LoseFirstLoadEndAnswer(Transport):
    """Passes bytes through, but swallows the device's answer to the first LOAD_END."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.armed = False
        self.done = False
        self.url = "lossy"

    def write(self, data: bytes) -> None:
        from qhil.link.framing import MsgType, decode_frame

        for frame in filter(None, data.split(b"\0")):
            if not self.done and decode_frame(frame).type == MsgType.LOAD_END:
                self.armed = True
        self.inner.write(data)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        data = self.inner.read(max_bytes, timeout)
        if self.armed and b"\0" in data:
            self.armed, self.done = False, True
            return data[data.index(b"\0") + 1:]
        return b"" if self.armed else data

    def close(self) -> None:
        self.inner.close()


def test_a_lost_load_end_answer_is_recovered_through_stats() -> None:
    """The device activated the model but its LOAD_END answer was lost: the resent
    LOAD_END finds no load in progress (BAD_STATE), and STATS confirms the model id."""
    from qhil.link.device import Device
    from qhil.quant.blob import blob_id

    with start_target("native") as target:
        lossy = _LoseFirstLoadEndAnswer(target.device.transport)
        device = Device(lossy, timeout=0.5)
        device.hello()
        blob = (PENDULUM / "qat_w3.qhil").read_bytes()
        info = device.load(blob)
        assert lossy.done and info.model_id == blob_id(blob)
        assert device.counters.retries >= 1 and device.stats()["model_id"] == blob_id(blob)
