/* What the fuzz port lets a harness observe. */
#ifndef QHIL_FUZZ_PORT_H
#define QHIL_FUZZ_PORT_H

#include <stdint.h>

/** Well-formed frames sent so far (malformed ones abort): answers and announcements. */
extern uint32_t fuzz_answers;
/** RESETs carried out; each is followed by one "ready" announcement frame. */
extern uint32_t fuzz_resets;

#endif
