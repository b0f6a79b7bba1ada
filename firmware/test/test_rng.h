/* The xorshift32 generator the firmware's C test programs draw random layers from. */
#ifndef QHIL_TEST_RNG_H
#define QHIL_TEST_RNG_H

#include <stdint.h>

static uint32_t rng_state = 12345u;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static int32_t rnd_range(int32_t lo, int32_t hi)
{
    return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1));
}

#endif
