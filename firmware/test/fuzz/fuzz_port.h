/* What the fuzz port lets a harness observe. */
#ifndef QHIL_FUZZ_PORT_H
#define QHIL_FUZZ_PORT_H

#include <stdint.h>

/** Well-formed answer frames sent so far (malformed ones abort). */
extern uint32_t fuzz_answers;

#endif
