#!/usr/bin/env bash
# Install what qhil needs and is missing; fast (< 1 s) when nothing is.
#   1. Debian packages (through sudo when not root)
#   2. .venv with qhil installed editable (redone when pyproject.toml changes)
#   3. picolibc for the RISC-V target: one multilib taken from Debian's package
#   4. PlatformIO's offline core package in .pio-core
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "setup: $*"; }

APT_PACKAGES=(build-essential gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
              gcc-riscv64-unknown-elf qemu-system-misc chromium clang
              libclang-rt-14-dev openocd gdb-multiarch ser2net
              python3-venv)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  step "[1/4] Debian packages missing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  step "      apt-get update (reading the package lists) ..."
  $SUDO apt-get update -qq
  step "      apt-get install ${#missing[@]} packages (compilers, QEMU, chromium: a few minutes on a fresh machine) ..."
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  step "      Debian packages installed"
fi

STAMP=.venv/.qhil-installed
if [ ! -x .venv/bin/python ] || [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
  step "[2/4] Python environment: .venv with qhil (editable), torch 2.13.0 (CPU wheel on disk),"
  step "      stable-baselines3, gymnasium[mujoco], platformio, labgrid, pyocd, ray, onnx, tflite (1-3 minutes;"
  step "      log: .venv/pip-install.log) ..."
  [ -x .venv/bin/python ] || python3 -m venv .venv
  # torch==2.13.0 is pinned in pyproject.toml: its CPU wheel is on this machine's disk.
  # lab, ray, onnx and tflite are optional for users; the suite tests them, so setup installs them
  if ! .venv/bin/pip install --disable-pip-version-check -e ".[dev,lab,ray,onnx,tflite]" > .venv/pip-install.log 2>&1; then
    tail -20 .venv/pip-install.log >&2
    echo "setup: pip install failed (full log: .venv/pip-install.log)" >&2
    exit 1
  fi
  # labgrid brings pyserial-labgrid, a fork that installs the same 'serial' package as
  # pyserial; both stay installed and 'serial' must import (README: beyond one machine)
  .venv/bin/python -c "import serial.rfc2217" 2>/dev/null ||
    .venv/bin/pip install --disable-pip-version-check --force-reinstall --no-deps \
      pyserial-labgrid >> .venv/pip-install.log 2>&1
  step "      checking that everything imports ..."
  .venv/bin/python -c "import qhil, torch, gymnasium, stable_baselines3, platformio, serial.rfc2217, ray, labgrid, pyocd, onnx, onnxruntime, onnxscript, tflite_micro, ai_edge_litert"
  touch "$STAMP"
  step "      .venv ready"
fi

# Debian's picolibc-riscv64-unknown-elf installs 1 GB of multilibs; the qemu-rv32 firmware
# needs one (rv32imac/ilp32, 12 MB): download the package, keep that one and the headers.
PICOLIBC="${QHIL_PICOLIBC:-$HOME/.cache/qhil/picolibc-rv32imac}"
if [ ! -f "$PICOLIBC/lib/libc.a" ]; then
  step "[3/4] picolibc for the RISC-V target: downloading Debian's package and keeping the"
  step "      rv32imac/ilp32 library (14 MB of its 1 GB) in $PICOLIBC ..."
  scratch="$(mktemp -d)" && chmod 755 "$scratch"  # apt downloads as its _apt user
  (cd "$scratch" && apt-get download -qq picolibc-riscv64-unknown-elf >/dev/null &&
    dpkg-deb -x picolibc-riscv64-unknown-elf_*.deb root)
  src="$scratch/root/usr/lib/picolibc/riscv64-unknown-elf"
  mkdir -p "$PICOLIBC"
  cp -r "$src/include" "$PICOLIBC/include"
  cp -r "$src/lib/rv32imac/ilp32" "$PICOLIBC/lib"
  rm -rf "$scratch"
fi

export PLATFORMIO_CORE_DIR="$PWD/.pio-core"
if [ ! -f .pio-core/packages/tool-scons/.piopm ] || [ tools/pio_offline.py -nt .pio-core/packages/tool-scons/.piopm ]; then
  step "[4/4] PlatformIO's offline core in .pio-core (tool-scons; no PlatformIO registry needed) ..."
  .venv/bin/python tools/pio_offline.py
  step "      PlatformIO ready"
fi
