/*
 * Native port: the firmware as a host process behind a pseudo-terminal, so the host
 * talks to it through pyserial exactly as to a board. Prints "QHIL-PTY <path>" on stdout.
 * Runs until SIGTERM (qhil's native target also has the kernel send it when qhil dies);
 * a client closing the pty only idles it.
 */
#define _XOPEN_SOURCE 600
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "qhil_port.h"

const qhil_port_info_t qhil_port_info = {
    .board = "native",
    .cpu = "host",
    .clock_hz = 0,
    .cost_kind = QHIL_COST_NS,
    .cost_num = 1,
    .cost_den = 1,
};

static int master_fd = -1;

void qhil_port_init(void)
{
    master_fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (master_fd < 0 || grantpt(master_fd) != 0 || unlockpt(master_fd) != 0) {
        perror("qhil native: cannot open a pseudo-terminal");
        exit(1);
    }
    const char *name = ptsname(master_fd);
    if (name == NULL) {
        perror("qhil native: ptsname");
        exit(1);
    }
    /* Raw on the slave side too, so no byte is translated before the client sets it. */
    int slave = open(name, O_RDWR | O_NOCTTY);
    if (slave >= 0) {
        struct termios t;
        if (tcgetattr(slave, &t) == 0) {
            cfmakeraw(&t);
            tcsetattr(slave, TCSANOW, &t);
        }
        close(slave);
    }
    printf("QHIL-PTY %s\n", name);
    fflush(stdout);
}

static uint8_t rx_buf[4096];
static ssize_t rx_len;
static ssize_t rx_pos;

int qhil_port_getc(uint8_t *byte)
{
    if (rx_pos < rx_len) {
        *byte = rx_buf[rx_pos++];
        return 1;
    }
    return 0;
}

void qhil_port_wait(void)
{
    struct pollfd pfd = {.fd = master_fd, .events = POLLIN};
    int r = poll(&pfd, 1, -1);
    if (r < 0 && errno == EINTR) {
        return;
    }
    if (pfd.revents & POLLIN) {
        rx_len = read(master_fd, rx_buf, sizeof rx_buf);
        rx_pos = 0;
        if (rx_len < 0) {
            rx_len = 0;
        }
    } else if (pfd.revents & POLLHUP) {
        /* no client connected (or it went away): don't spin */
        usleep(2000);
    }
}

void qhil_port_write(const uint8_t *data, uint32_t len)
{
    while (len > 0u) {
        ssize_t n = write(master_fd, data, len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            return;
        }
        data += n;
        len -= (uint32_t)n;
    }
}

uint32_t qhil_port_cost_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}
