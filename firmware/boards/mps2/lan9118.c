/*
 * LAN9118 driver, the part qhil needs (see lan9118.h). Registers from the SMSC LAN9118
 * datasheet: data and status FIFOs at the bottom, control registers above 0x50; the MAC's
 * own registers are reached indirectly through MAC_CSR_CMD/DATA.
 *
 * A received frame is a status word (length at bits 29:16, the 4-byte FCS included; error
 * summary at bit 15) and then its bytes, a word at a time; every word of a frame must be
 * read, kept or not. A frame is sent as two command words (A: first and last segment and
 * the byte count; B: a tag and the byte count) and its bytes, a word at a time; the
 * controller then queues a status word, which is read and dropped.
 */
#include "lan9118.h"

#define REG(off) (*(volatile uint32_t *)(QHIL_LAN9118_BASE + (off)))
#define RX_DATA REG(0x00u)
#define TX_DATA REG(0x20u)
#define RX_STATUS REG(0x40u)
#define TX_STATUS REG(0x48u)
#define IRQ_CFG REG(0x54u)
#define INT_STS REG(0x58u)
#define INT_EN REG(0x5Cu)
#define FIFO_INT REG(0x68u)
#define TX_CFG REG(0x70u)
#define RX_FIFO_INF REG(0x7Cu)
#define TX_FIFO_INF REG(0x80u)
#define MAC_CSR_CMD REG(0xA4u)
#define MAC_CSR_DATA REG(0xA8u)

#define MAC_CR 1u
#define MAC_CR_RXEN (1u << 2)
#define MAC_CR_TXEN (1u << 3)
#define MAC_CR_PRMS (1u << 18)
#define CSR_BUSY (1u << 31)
#define INT_RSFL (1u << 3)
#define IRQ_EN (1u << 8)
#define IRQ_POL_HIGH (1u << 4)
#define IRQ_PUSH_PULL (1u << 0)
#define TX_ON (1u << 1)
#define TX_FIRST (1u << 13)
#define TX_LAST (1u << 12)
#define RX_ERROR (1u << 15)

#define ETHERTYPE_QHIL 0x88B5u
#define HEADER 16u     /* destination, source, EtherType, stream byte count */
#define MIN_FRAME 60u  /* without the FCS, which the controller adds */
#define MAX_CHUNK 1498u

static const uint8_t own_mac[6] = {0x02u, 0x51u, 0x48u, 0x49u, 0x4Cu, 0x00u};
static uint8_t peer_mac[6] = {0xFFu, 0xFFu, 0xFFu, 0xFFu, 0xFFu, 0xFFu};

static void mac_write(uint32_t index, uint32_t value)
{
    MAC_CSR_DATA = value;
    MAC_CSR_CMD = CSR_BUSY | index;
    while (MAC_CSR_CMD & CSR_BUSY) {
    }
}

void qhil_lan9118_init(void)
{
    mac_write(MAC_CR, MAC_CR_RXEN | MAC_CR_TXEN | MAC_CR_PRMS);
    TX_CFG = TX_ON;
    FIFO_INT = 0u; /* RX status level 0: interrupt while any frame waits */
    INT_EN = INT_RSFL;
    IRQ_CFG = IRQ_EN | IRQ_POL_HIGH | IRQ_PUSH_PULL;
    qhil_irq_enable(QHIL_LAN9118_IRQ);
}

static uint32_t frames_waiting(void)
{
    return (RX_FIFO_INF >> 16) & 0xFFu;
}

/* One frame's words: header checked, stream bytes into the ring, the rest drained. */
/* The controller runs promiscuous (no filter to program): frames for other stations are
 * dropped here, by the destination address. */
static int addressed_to_us(const uint8_t *header)
{
    int own = 1;
    int broadcast = 1;
    for (uint32_t i = 0; i < 6u; i++) {
        own &= header[i] == own_mac[i];
        broadcast &= header[i] == 0xFFu;
    }
    return own || broadcast;
}

static int take_frame(qhil_rx_ring *ring)
{
    const uint32_t status = RX_STATUS;
    const uint32_t length = (status >> 16) & 0x3FFFu;
    const uint32_t words = (length + 3u) / 4u;
    uint8_t header[HEADER];
    uint32_t count = 0;
    int ours = 0;
    for (uint32_t w = 0; w < words; w++) {
        const uint32_t word = RX_DATA;
        for (uint32_t b = 0; b < 4u; b++) {
            const uint32_t at = 4u * w + b;
            const uint8_t byte = (uint8_t)(word >> (8u * b));
            if (at < HEADER) {
                header[at] = byte;
                if (at == HEADER - 1u) {
                    count = header[14] | ((uint32_t)header[15] << 8);
                    ours = (status & RX_ERROR) == 0u && length >= HEADER + 4u &&
                           addressed_to_us(header) &&
                           ((uint32_t)header[12] << 8 | header[13]) == ETHERTYPE_QHIL &&
                           count <= MAX_CHUNK && count <= length - HEADER - 4u;
                }
            } else if (ours && at < HEADER + count) {
                qhil_ring_push(ring, byte);
            }
        }
    }
    if (ours) {
        for (uint32_t i = 0; i < 6u; i++) {
            peer_mac[i] = header[6u + i];
        }
    }
    return ours;
}

int qhil_lan9118_receive(qhil_rx_ring *ring)
{
    int any = 0;
    while (frames_waiting() != 0u) {
        any |= take_frame(ring);
    }
    INT_STS = INT_RSFL;
    return any;
}

static void send_frame(const uint8_t *data, uint32_t count)
{
    const uint32_t size = HEADER + count < MIN_FRAME ? MIN_FRAME : HEADER + count;
    while ((TX_FIFO_INF & 0xFFFFu) < size + 8u) {
    }
    TX_DATA = TX_FIRST | TX_LAST | size;
    TX_DATA = (size << 16) | size;
    uint32_t word = 0;
    for (uint32_t at = 0; at < size; at++) {
        uint8_t byte;
        if (at < 6u) {
            byte = peer_mac[at];
        } else if (at < 12u) {
            byte = own_mac[at - 6u];
        } else if (at < HEADER) {
            const uint8_t fixed[4] = {(uint8_t)(ETHERTYPE_QHIL >> 8), (uint8_t)ETHERTYPE_QHIL,
                                      (uint8_t)count, (uint8_t)(count >> 8)};
            byte = fixed[at - 12u];
        } else {
            byte = at < HEADER + count ? data[at - HEADER] : 0u;
        }
        word |= (uint32_t)byte << (8u * (at % 4u));
        if (at % 4u == 3u || at + 1u == size) {
            TX_DATA = word;
            word = 0;
        }
    }
    while ((TX_FIFO_INF >> 16) & 0xFFu) {
        (void)TX_STATUS;
    }
}

void qhil_lan9118_send(const uint8_t *data, uint32_t len)
{
    do {
        const uint32_t count = len < MAX_CHUNK ? len : MAX_CHUNK;
        send_frame(data, count);
        data += count;
        len -= count;
    } while (len > 0u);
}
