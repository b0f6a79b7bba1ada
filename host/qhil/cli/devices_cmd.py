"""``qhil devices``: serial ports a board may be on, and the targets qhil knows."""

from __future__ import annotations

import argparse
import json

NAMES = ("devices",)
HELP = "list serial ports and the known targets"
DESCRIPTION = """\
List the serial ports pyserial sees (with USB VID:PID and description, to spot a
Nucleo's ST-LINK or a USB-serial adapter) and the targets qhil can start or connect to.

example: qhil devices --json
"""


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of the default tables")


def run(args: argparse.Namespace) -> int:
    from serial.tools import list_ports

    from qhil.targets import TARGETS

    ports = [{"device": p.device, "description": p.description,
              "vid_pid": f"{p.vid:04x}:{p.pid:04x}" if p.vid is not None else ""}
             for p in sorted(list_ports.comports(), key=lambda p: p.device)]
    targets = [{"name": t.name, "kind": t.kind, "pio_env": t.pio_env, "machine": t.machine,
                "description": t.description, "links": [x.value for x in t.links],
                "upload_protocols": list(t.upload_protocols)}
               for t in TARGETS.values()]
    if args.json:
        print(json.dumps({"ports": ports, "targets": targets}, indent=2))
        return 0
    print("serial ports:" if ports else "serial ports: none found")
    for p in ports:
        print(f"  {p['device']:20s} {p['vid_pid']:10s} {p['description']}")
    print("targets:")
    for t in targets:
        links = f" [links: {', '.join(t['links'])}]" if len(t["links"]) > 1 else ""
        uploads = (f" [upload: {', '.join(t['upload_protocols'])}]" if t["upload_protocols"]
                   else "")
        print(f"  {t['name']:16s} {t['kind']:7s} {t['description']}{links}{uploads}")
    return 0
