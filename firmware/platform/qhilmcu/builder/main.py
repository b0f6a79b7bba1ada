"""SCons builder for the qhilmcu platform.

Three toolchains, chosen by the board's ``build.toolchain``:
- ``arm``: the system ``arm-none-eabi-*`` (Debian's gcc-arm-none-eabi), newlib-nano; with
  ``custom_compiler = clang`` in the environment, Debian's clang compiles the C
  (``--target=arm-none-eabi``) and gcc still assembles and links;
- ``riscv``: the system ``riscv64-unknown-elf-*`` (Debian's gcc-riscv64-unknown-elf) at the
  board's ``build.march``/``build.mabi`` (binutils 2.40 wants the ``_zicsr`` extension
  named), with picolibc's C library for that one multilib
  (tools/setup.sh extracts it from Debian's package into ~/.cache/qhil, or
  ``QHIL_PICOLIBC`` names the folder: ``include/`` and ``lib/``);
- ``native``: the host ``gcc``, producing a process that speaks the protocol over a pty.
Uploading a real board uses openocd, pyocd or a GDB-server probe (Black Magic; any GDB
server through gdb-multiarch and ``probes/gdb-load.gdb``) from PATH: ``$UPLOAD_PROTOCOL``
(or the board's ``upload.protocol``), ``$UPLOAD_PORT`` for a GDB server's address.
``-t upload_command`` prints the command ``-t upload`` runs.
"""

import os
import sys

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()
platform_dir = env.PioPlatform().get_dir()
toolchain = board.get("build.toolchain", "arm")
# custom_compiler = clang in an environment: clang compiles the C for the board's Arm core,
# arm-none-eabi-gcc still assembles and links (newlib, libgcc)
compiler = env.GetProjectOption("custom_compiler", "gcc")

common = ["-O2", "-g", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections"]
env.Append(CFLAGS=["-std=c99"], CCFLAGS=common)


def elf_tools(prefix):
    env.Replace(
        AR=prefix + "gcc-ar", AS=prefix + "gcc", CC=prefix + "gcc", CXX=prefix + "g++",
        GDB="gdb-multiarch", OBJCOPY=prefix + "objcopy", RANLIB=prefix + "gcc-ranlib",
        SIZETOOL=prefix + "size", PROGSUFFIX=".elf",
        SIZEPROGREGEXP=r"^(?:\.text|\.data|\.rodata|\.vectors)\s+([0-9]+).*",
        SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.noinit|\.stack)\s+([0-9]+).*",
        SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
        SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
    )


def ldscript_of_board():
    ldscript = os.path.join(env.subst("$PROJECT_DIR"), "boards", board.get("build.ldscript"))
    env.Replace(LDSCRIPT_PATH=os.path.abspath(ldscript))


if toolchain == "native":
    env.Replace(CC="gcc", AR="ar", RANLIB="ranlib", AS="gcc", PROGSUFFIX="")
    env.Append(LINKFLAGS=["-Wl,--gc-sections"], LIBS=["m"])
elif toolchain == "riscv":
    elf_tools("riscv64-unknown-elf-")
    march = board.get("build.march")
    picolibc = os.environ.get("QHIL_PICOLIBC") or os.path.join(
        os.path.expanduser("~"), ".cache", "qhil", "picolibc-" + march.split("_")[0])
    if not os.path.isdir(os.path.join(picolibc, "lib")):
        sys.stderr.write("Error: picolibc for %s is not in %s (make setup extracts it)\n"
                         % (march, picolibc))
        env.Exit(1)
    machine = ["-march=%s" % march, "-mabi=%s" % board.get("build.mabi"), "-mcmodel=medany"]
    # the link names the bare ISA so that gcc picks the matching multilib's libgcc
    multilib = ["-march=%s" % march.split("_")[0], "-mabi=%s" % board.get("build.mabi")]
    env.Append(
        ASFLAGS=machine,
        CCFLAGS=machine + ["-isystem", os.path.join(picolibc, "include")],
        LINKFLAGS=multilib + ["-nostartfiles", "-nostdlib", "-Wl,--gc-sections",
                              "-Wl,--no-warn-rwx-segments",
                             "-L" + os.path.join(picolibc, "lib"),
                             "-Wl,-Map,%s" % os.path.join("$BUILD_DIR", "firmware.map")],
        LIBS=["c", "gcc"],
    )
    ldscript_of_board()
else:
    elf_tools("arm-none-eabi-")
    machine = ["-mcpu=%s" % board.get("build.cpu"), "-mthumb"]
    fpu = board.get("build.fpu", "")
    machine += ["-mfloat-abi=hard", "-mfpu=%s" % fpu] if fpu else ["-mfloat-abi=soft"]
    if compiler == "clang":
        # newlib's headers sit beside its libc.a; clang takes the FPU from -mcpu
        libc = os.popen("arm-none-eabi-gcc -print-file-name=libc.a").read().strip()
        newlib = os.path.normpath(os.path.join(os.path.dirname(libc), "..", "include"))
        env.Replace(CC="clang", LINK="arm-none-eabi-gcc",
                    ASPPCOM=env["ASPPCOM"].replace("$CC", "arm-none-eabi-gcc"))
        # -fshort-enums: arm-none-eabi-gcc's enum size, which newlib is built with
        env.Append(CCFLAGS=["--target=arm-none-eabi", "-fshort-enums", "-isystem", newlib] +
                   [f for f in machine if f != "-mfpu=auto"])
        machine_c = []
    else:
        machine_c = machine
    env.Append(
        ASFLAGS=machine,
        CCFLAGS=machine_c,
        LINKFLAGS=machine + ["-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections",
                             "-L" + os.path.join(env.subst("$PROJECT_DIR"), "boards", "cortexm"),
                             "-Wl,-Map,%s" % os.path.join("$BUILD_DIR", "firmware.map")],
        LIBS=["c", "m", "nosys"],
    )
    ldscript_of_board()

env.Append(CPPDEFINES=[("QHIL_BOARD", '\\"%s\\"' % board.id)])

program = env.BuildProgram()

if toolchain == "riscv":
    Default([program])
elif toolchain == "arm":
    binary = env.Command(os.path.join("$BUILD_DIR", "firmware.bin"), program,
                         "$OBJCOPY -O binary $SOURCE $TARGET")
    size = env.Alias("size", program, "$SIZEPRINTCMD")
    AlwaysBuild(size)
    # pio run has no option to set these: qhil passes them in the environment
    protocol = (os.environ.get("UPLOAD_PROTOCOL") or env.subst("$UPLOAD_PROTOCOL")
                or board.get("upload.protocol", ""))
    port = os.environ.get("UPLOAD_PORT") or env.subst("$UPLOAD_PORT")
    gdb_load = os.path.join(env.subst("$PROJECT_DIR"), "probes", "gdb-load.gdb")
    # gdb retries a refused TCP connection for 15 s by default: a probe is there or not
    gdb = ('gdb-multiarch -nx --batch -ex "set tcp connect-timeout 2" '
           '-ex "target extended-remote %s"' % port)
    if protocol == "openocd":
        upload_cmd = ('openocd -f interface/%s.cfg -f target/%s.cfg -c "program $SOURCE verify '
                      'reset exit"' % (board.get("debug.openocd_interface", "stlink"),
                                       board.get("debug.openocd_target", "stm32f4x")))
    elif protocol == "pyocd":
        upload_cmd = "pyocd flash -t %s $SOURCE" % board.get("debug.pyocd_target", "stm32f446re")
    elif protocol == "blackmagic":  # a GDB server on the probe: find and attach the target first
        upload_cmd = ('%s -ex "monitor swdp_scan" -ex "attach 1" -x %s $SOURCE'
                      % (gdb, gdb_load))
    elif protocol == "gdb-server":  # any GDB server that is attached already (QEMU's -gdb)
        upload_cmd = "%s -x %s $SOURCE" % (gdb, gdb_load)
    else:
        upload_cmd = "echo 'this board runs under an emulator: nothing to upload'"
    env.AddPlatformTarget("upload", program, env.VerboseAction(upload_cmd, "Uploading $SOURCE"),
                          "Upload")
    # the exact command 'upload' runs, printed (qhil checks it with the real tool, no probe)
    env.AddPlatformTarget("upload_command", program,
                          env.VerboseAction("echo QHIL-UPLOAD-COMMAND: " + upload_cmd.replace(
                              '"', '\\"'), "Upload command"), "Upload command")
    Default([program, binary])
else:
    Default([program])
