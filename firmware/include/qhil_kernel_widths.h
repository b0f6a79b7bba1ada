/*
 * The weight widths the optimized kernels are compiled for: all of them, or, in a firmware
 * with a model compiled into flash (QHIL_BUILTIN_MODEL, qhil export-c), only the widths
 * that model uses (QHIL_BUILTIN_WIDTHS, bit b for b bits), so its image links no loop it
 * never runs. A layer of another width (a model uploaded to such a firmware) runs the
 * reference kernel, which every firmware has: the answer is the same.
 */
#ifndef QHIL_KERNEL_WIDTHS_H
#define QHIL_KERNEL_WIDTHS_H

#ifdef QHIL_BUILTIN_MODEL
#define QHIL_BUILTIN_WIDTHS_ONLY
#include "qhil_builtin_model.h"
#define QHIL_KERNEL_WIDTHS QHIL_BUILTIN_WIDTHS
/* the tflite arithmetic's kernel only in an image of a tflite model (headers older than
 * QHIL_BUILTIN_ARITHMETIC hold qhil models); uploads of the other arithmetic run the
 * reference kernel */
#if defined(QHIL_BUILTIN_ARITHMETIC) && QHIL_BUILTIN_ARITHMETIC == 1
#define QHIL_KERNEL_TFLITE 1
#else
#define QHIL_KERNEL_TFLITE 0
#endif
#else
#define QHIL_KERNEL_WIDTHS 0x1FCu
#define QHIL_KERNEL_TFLITE 1
#endif

/** Nonzero when the optimized kernels handle `bits`-bit weights (a constant expression). */
#define QHIL_KERNEL_HAS(bits) ((QHIL_KERNEL_WIDTHS >> (bits)) & 1u)

#endif
