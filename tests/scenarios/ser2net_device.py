"""A device by URL: the native firmware's pty exported by ser2net over RFC 2217, benched
through the URL and locally; run by tests/test_remote_device.py inside a network namespace
that has only loopback (and a veth pair, so that name lookups work), never on a real
network. Prints one JSON line with what it saw; any failed check exits non-zero."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QHIL = [sys.executable, "-m", "qhil.cli.main", "-q"]
PORT = 3021
URL = f"rfc2217://127.0.0.1:{PORT}?ign_set_control"
BENCH = ["bench", "--model", str(ROOT / "models" / "Pendulum-v1"), "--variants", "int8",
         "--blob", str(ROOT / "models" / "Pendulum-v1" / "qat_w3.qhil"), "--episodes", "2",
         "--calib-episodes", "2", "--no-build"]


def main() -> int:
    work = Path(tempfile.mkdtemp())
    firmware = subprocess.Popen([str(ROOT / "firmware/.pio/build/native/program")],
                                stdout=subprocess.PIPE, text=True)
    assert firmware.stdout is not None
    pty = firmware.stdout.readline().split()[1]
    config = work / "ser2net.yaml"
    config.write_text(f"connection: &qhil\n    accepter: telnet(rfc2217),tcp,{PORT}\n"
                      f"    connector: serialdev,{pty},115200n81,local\n")
    ser2net = subprocess.Popen(["ser2net", "-n", "-d", "-c", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: dict[str, object] = {}
    try:
        time.sleep(0.5)
        remote = subprocess.run([*QHIL, *BENCH, "--target", "native", "--port", URL,
                                 "-o", str(work / "remote")], capture_output=True, text=True)
        assert remote.returncode == 0, remote.stderr
        local = subprocess.run([*QHIL, *BENCH, "--target", "native", "-o", str(work / "local")],
                               capture_output=True, text=True)
        assert local.returncode == 0, local.stderr
        reports = {k: json.loads((work / k / "report.json").read_text())
                   for k in ("remote", "local")}
        for k, rep in reports.items():
            seen[k] = {v["name"]: {"return": v["return"]["mean"],
                                   "checked": v["bit_exact"]["checked_steps"],
                                   "mismatches": v["bit_exact"]["mismatches"]}
                       for v in rep["variants"]}
        seen["url"] = reports["remote"]["target"].get("url")
        seen["board"] = reports["remote"]["target"].get("board")
        refused = subprocess.run([*QHIL, *BENCH, "--target", "qemu-m4", "--port", URL,
                                  "-o", str(work / "refused")], capture_output=True, text=True)
        seen["mismatch_exit"] = refused.returncode
        seen["mismatch_error"] = refused.stderr.strip().splitlines()[-1]
        allowed = subprocess.run([*QHIL, *BENCH, "--target", "qemu-m4", "--port", URL,
                                  "--allow-mismatch", "-o", str(work / "allowed")],
                                 capture_output=True, text=True)
        seen["allowed_exit"] = allowed.returncode
    finally:
        ser2net.terminate()
        firmware.terminate()
        ser2net.wait()
        firmware.wait()
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
