"""A labgrid place as a target: the real coordinator, exporter (with its ser2net) and
client, the native firmware's pty as the place's serial port, and a network power switch
(labgrid's ``simplerest`` model) served here on loopback whose off/on kills and restarts
the firmware, and a QEMU target's pty as a second place. Run by tests/test_lab.py inside
a network namespace with only loopback.

Checks, in order: a bench through each place equals the local bench; a place held by
someone else is refused in one line; a device that stops answering mid-run is power-cycled
and the run ends with the local results and the incident; the exporter killed mid-run
stops the run with the incident recorded, and --resume (exporter back) completes it.
Prints one JSON line with what it saw.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
QHIL = [sys.executable, "-m", "qhil.cli.main", "-q"]
COORDINATOR = "127.0.0.1:20409"
PLACE = "qhil-1"
BENCH = ["bench", "--model", str(ROOT / "models" / "Pendulum-v1"), "--variants", "int8",
         "--blob", str(ROOT / "models" / "Pendulum-v1" / "qat_w3.qhil"), "--episodes", "3",
         "--calib-episodes", "2", "--no-build"]
LAB = ["--target", f"labgrid:{PLACE}", "--coordinator", COORDINATOR, "--timeout", "0.5"]


class Board:
    """The native firmware behind a fixed /dev path (the exporter exports /dev paths only);
    its power is the switch below: off kills it, on starts it afresh on a new pty."""

    def __init__(self) -> None:
        self.link = Path(f"/dev/qhil-lab-{os.getpid()}")
        self.proc: subprocess.Popen[str] | None = None
        self.power(True)

    def power(self, on: bool) -> None:
        if not on:
            if self.proc is not None:
                self.proc.kill()
                self.proc.wait()
                self.proc = None
            return
        if self.proc is not None:
            return
        self.proc = subprocess.Popen([str(ROOT / "firmware/.pio/build/native/program")],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        pty = self.proc.stdout.readline().split()[1]
        tmp = self.link.with_name(self.link.name + ".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(pty)
        tmp.replace(self.link)

    def hang(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def close(self) -> None:
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGCONT)
        self.power(False)
        self.link.unlink(missing_ok=True)


class Emulator:
    """QEMU running the qemu-m4 firmware with its UART on a pty, behind a fixed /dev path."""

    def __init__(self) -> None:
        from qhil.targets.firmware import firmware_path

        self.link = Path(f"/dev/qhil-lab-qemu-{os.getpid()}")
        self.proc = subprocess.Popen(
            ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none",
             "-icount", "shift=7", "-serial", "pty", "-kernel", str(firmware_path("qemu-m4"))],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # char device redirected to /dev/pts/N (label ...)
        pty = line.split("redirected to ")[1].split()[0]
        self.link.unlink(missing_ok=True)
        self.link.symlink_to(pty)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()
        self.link.unlink(missing_ok=True)


def power_switch(board: Board) -> tuple[http.server.HTTPServer, list[str]]:
    """labgrid's simplerest power model: GET <host>/<index>/<value> switches, no value reads."""
    log: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            parts = self.path.strip("/").split("/")
            if len(parts) == 3:
                board.power(parts[2] == "1")
                log.append(parts[2])
            body = b"1" if board.proc is not None else b"0"
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, log


def client(*args: str, user: str = "qhil") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "labgrid-client"), "-x", COORDINATOR, *args],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "LG_USERNAME": user})


def start_exporter(config: Path, work: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([str(BIN / "labgrid-exporter"), "-c", COORDINATOR, "-n", "lab1",
                             "--hostname", "127.0.0.1", str(config)], cwd=work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # its ser2net dies with it (killpg)
    for _ in range(100):
        if "lab1/qhil-native/NetworkSerialPort" in client("resources").stdout:
            return proc
        time.sleep(0.2)
    raise SystemExit("the exporter's serial port never showed up at the coordinator")


def results(out: Path) -> dict[str, Any]:
    report = json.loads((out / "report.json").read_text())
    return {"variants": {v["name"]: {"returns": v["return"]["per_episode"],
                                     "checked": v["bit_exact"]["checked_steps"],
                                     "mismatches": v["bit_exact"]["mismatches"]}
                         for v in report["variants"]},
            "incidents": [i["action"] for i in report["incidents"]],
            "target": {k: report["target"].get(k) for k in ("name", "url", "board")}}


def when_an_episode_is_saved(out: Path, proc: subprocess.Popen[str]) -> None:
    for _ in range(600):
        if list((out / "episodes").glob("*.json")) or proc.poll() is not None:
            return
        time.sleep(0.05)


def step(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def main() -> int:
    work = Path(tempfile.mkdtemp())
    board = Board()
    emulator = Emulator()
    server, switched = power_switch(board)
    coordinator = subprocess.Popen([str(BIN / "labgrid-coordinator"), "-l", COORDINATOR],
                                   cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    config = work / "exporter.yaml"
    config.write_text(
        f"qhil-native:\n  RawSerialPort:\n    port: {board.link}\n    speed: 115200\n"
        f"  NetworkPowerPort:\n    model: simplerest\n"
        f"    host: 'http://127.0.0.1:{server.server_port}/power/{{index}}/{{value}}'\n"
        f"    index: 0\n"
        f"qhil-qemu:\n  RawSerialPort:\n    port: {emulator.link}\n    speed: 115200\n")
    seen: dict[str, Any] = {}
    exporter = None
    try:
        for _ in range(150):  # the coordinator takes a moment to listen
            if client("-p", PLACE, "create").returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise SystemExit("the labgrid coordinator did not answer")
        assert client("-p", PLACE, "add-match", "lab1/qhil-native/*").returncode == 0
        assert client("-p", "qhil-2", "create").returncode == 0
        assert client("-p", "qhil-2", "add-match", "lab1/qhil-qemu/*").returncode == 0
        exporter = start_exporter(config, work)

        step("local bench")
        local = subprocess.run([*QHIL, *BENCH, "--target", "native", "-o", str(work / "local")],
                               capture_output=True, text=True)
        assert local.returncode == 0, local.stderr
        seen["local"] = results(work / "local")
        step("bench through the place")
        lab = subprocess.run([*QHIL, *BENCH, *LAB, "-o", str(work / "lab")],
                             capture_output=True, text=True)
        assert lab.returncode == 0, lab.stderr
        seen["lab"] = results(work / "lab")
        seen["released_after_run"] = "acquired: None" in client("-p", PLACE, "show").stdout

        # an emulator's pty as a place: the same as the emulator started here
        step("local qemu bench")
        qemu = subprocess.run([*QHIL, *BENCH, "--target", "qemu-m4", "-o", str(work / "qemu")],
                              capture_output=True, text=True)
        assert qemu.returncode == 0, qemu.stderr
        seen["qemu_local"] = results(work / "qemu")
        step("qemu through a place")
        qlab = subprocess.run([*QHIL, *BENCH, "--target", "labgrid:qhil-2", "--coordinator",
                               COORDINATOR, "-o", str(work / "qemu-lab")],
                              capture_output=True, text=True)
        assert qlab.returncode == 0, qlab.stderr
        seen["qemu_lab"] = results(work / "qemu-lab")

        step("busy place")
        assert client("-p", PLACE, "acquire", user="alice").returncode == 0
        busy = subprocess.run([*QHIL, *BENCH, *LAB, "-o", str(work / "busy")],
                              capture_output=True, text=True)
        seen["busy"] = {"exit": busy.returncode, "stderr": busy.stderr.strip().splitlines()}
        assert client("-p", PLACE, "release", user="alice").returncode == 0

        step("hang")
        # the device hangs mid-run: the place's power switch brings it back
        run = subprocess.Popen([*QHIL, *BENCH, *LAB, "--link-faults", "delay=0.05,delay_ms=1",
                                "-o", str(work / "hang")], stderr=subprocess.PIPE, text=True)
        when_an_episode_is_saved(work / "hang", run)
        board.hang()
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
        seen["hang"] = results(work / "hang")
        seen["switched"] = list(switched)

        step("dead exporter")
        # the exporter dies mid-run: the run stops, says why, and resumes when it is back
        run = subprocess.Popen([*QHIL, *BENCH, *LAB, "--link-faults", "delay=0.05,delay_ms=1",
                                "-o", str(work / "dead")], stderr=subprocess.PIPE, text=True)
        when_an_episode_is_saved(work / "dead", run)
        os.killpg(exporter.pid, signal.SIGKILL)
        exporter.wait()
        _, err = run.communicate(timeout=300)
        seen["dead"] = {"exit": run.returncode, "last_line": err.strip().splitlines()[-1]}
        partial = json.loads((work / "dead" / "report.json").read_text())
        seen["dead"]["complete"] = partial["complete"]
        exporter = start_exporter(config, work)
        resumed = subprocess.run([*QHIL, "bench", "--resume", str(work / "dead")],
                                 capture_output=True, text=True)
        assert resumed.returncode == 0, resumed.stderr
        seen["resumed"] = results(work / "dead")
    finally:
        if exporter is not None and exporter.poll() is None:
            os.killpg(exporter.pid, signal.SIGTERM)
            exporter.wait()
        coordinator.terminate()
        coordinator.wait()
        server.shutdown()
        board.close()
        emulator.close()
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
