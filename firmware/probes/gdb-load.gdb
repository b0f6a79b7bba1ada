# What a GDB-server probe runs once connected (a Black Magic probe after its scan and
# attach preamble; QEMU's -gdb server needs none): write the image, then start it the way
# a reset does (the stack pointer and entry point from the vector table, Thumb state),
# and leave it running. Used by the in-repo builder's upload (protocols blackmagic and
# gdb-server), with the firmware ELF as gdb's file.
load
set $sp = (unsigned int) &__stack_top
set $pc = (unsigned int) &Reset_Handler
set $xpsr = 0x01000000
detach
