/* Weak defaults for the optional port functions (include/qhil_port.h). */
#include "qhil_port.h"

__attribute__((weak)) void qhil_port_reset(void)
{
}
