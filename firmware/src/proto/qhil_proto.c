/* Request handling for docs/protocol.md: every request gets exactly one answer. */
#include "qhil_proto.h"

#include <math.h>
#include <string.h>

#include "qhil_crc32.h"
#include "qhil_model.h"
#include "qhil_port.h"

#ifndef QHIL_FIRMWARE_VERSION
#define QHIL_FIRMWARE_VERSION "0.1.0"
#endif
const char *const qhil_firmware_version = QHIL_FIRMWARE_VERSION;

#ifndef QHIL_BENCH_MAX
#define QHIL_BENCH_MAX 1000u
#endif
#define BENCH_MAX QHIL_BENCH_MAX

typedef struct {
    uint32_t frames_ok;
    uint32_t crc_errors;
    uint32_t framing_errors;
    uint32_t rejects;
    uint32_t inferences;
    uint32_t loads;
} qhil_stats;

static struct {
    uint8_t *arena;
    uint32_t arena_size;
    uint32_t load_size; /* 0: no load in progress */
    uint32_t load_received;
    uint32_t load_flags; /* LOAD_BEGIN's flags for the upload in progress */
    qhil_model model;
    qhil_stats stats;
    uint8_t rx[QHIL_MAX_FRAME];
    uint32_t rx_len;
    uint8_t rx_overflow;
    uint16_t seq; /* of the request being answered */
    uint8_t type;
    uint32_t epoch; /* the cost counter at boot or the last RESET: STATS uptime counts from it */
} st;

/* Packet and frame buffers for answers; 4-byte aligned for the typed views below. */
static uint32_t packet_words[(QHIL_MAX_PACKET + 3u) / 4u];
static uint8_t tx_frame[QHIL_MAX_FRAME + 1u];
static uint32_t bench_costs[BENCH_MAX];

static void wr16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static uint8_t *payload_out(void)
{
    return (uint8_t *)packet_words + 6;
}

static void send(uint8_t type, uint32_t len)
{
    uint8_t *pkt = (uint8_t *)packet_words;
    pkt[0] = QHIL_PROTO_VERSION;
    pkt[1] = type;
    wr16(pkt + 2, st.seq);
    wr16(pkt + 4, len);
    wr32(pkt + 6 + len, qhil_crc32(0, pkt, 6u + len));
    uint32_t n = qhil_cobs_encode(pkt, 10u + len, tx_frame);
    tx_frame[n++] = 0;
    qhil_port_write(tx_frame, n);
}

static void send_error(qhil_status code, uint32_t detail)
{
    uint8_t *out = payload_out();
    out[0] = (uint8_t)code;
    out[1] = st.type;
    wr16(out + 2, detail > 0xFFFFu ? 0xFFFFu : detail);
    st.stats.rejects++;
    send(QHIL_MSG_ERROR, 4);
}

/* The HELLO answer; also sent unsolicited, with sequence 0, when the device is ready. */
static void send_hello(void)
{
    uint8_t *out = payload_out();
    const qhil_port_info_t *info = &qhil_port_info;
    out[0] = QHIL_PROTO_VERSION;
    out[1] = info->cost_kind;
    wr16(out + 2, info->cost_num);
    wr16(out + 4, info->cost_den);
    wr32(out + 6, info->clock_hz);
    wr32(out + 10, st.arena_size);
    wr16(out + 14, QHIL_MAX_PAYLOAD);
    wr16(out + 16, 0x01FCu);
    out[18] = qhil_fc_opt_variant;
#ifdef QHIL_NO_F32
    out[19] = 0;
#else
    out[19] = 1;
#endif
    uint32_t n = 20;
    const char *strings[3] = {qhil_firmware_version, info->board, info->cpu};
    for (uint32_t s = 0; s < 3u; s++) {
        uint32_t len = (uint32_t)strlen(strings[s]);
        if (len > 60u) {
            len = 60u;
        }
        memcpy(out + n, strings[s], len);
        n += len;
        out[n++] = 0;
    }
    /* what a model may be: the host refuses one that cannot load before running anything */
    wr16(out + n, QHIL_MAX_WIDTH);
    out[n + 2u] = QHIL_MAX_LAYERS;
    out[n + 3u] = QHIL_MODEL_FORMAT_MAX;
    n += 4u;
    send(QHIL_MSG_HELLO | 0x80u, n);
}

void qhil_proto_announce(void)
{
    st.seq = 0;
    st.type = QHIL_MSG_HELLO;
    send_hello();
}

static void handle_load_begin(const uint8_t *in, uint32_t len)
{
    /* u32 size, then optional u32 flags: bit 0 lets the kernel widen the weights, bit 1
     * has it keep nothing; not both */
    const uint32_t flags = len == 8u ? rd32(in + 4) : 0u;
    if ((len != 4u && len != 8u) || (flags & ~(QHIL_LOAD_WIDEN | QHIL_LOAD_COMPACT)) != 0u ||
        flags == (QHIL_LOAD_WIDEN | QHIL_LOAD_COMPACT)) {
        send_error(QHIL_ERR_PAYLOAD, len == 8u ? 8u : 4u);
        return;
    }
    uint32_t size = rd32(in);
    if (size == 0u || size > st.arena_size) {
        /* nothing is overwritten: the loaded model (and any upload in progress) stays */
        send_error(QHIL_ERR_TOO_LARGE, size / 256u);
        return;
    }
    st.model.n_layers = 0; /* its bytes are about to be overwritten */
    st.load_size = size;
    st.load_received = 0;
    st.load_flags = len == 8u ? rd32(in + 4) : 0u;
    wr32(payload_out(), st.arena_size);
    send(QHIL_MSG_LOAD_BEGIN | 0x80u, 4);
}

static void handle_load_chunk(const uint8_t *in, uint32_t len)
{
    if (st.load_size == 0u) {
        send_error(QHIL_ERR_STATE, 0);
        return;
    }
    if (len < 5u) {
        send_error(QHIL_ERR_PAYLOAD, 5);
        return;
    }
    uint32_t offset = rd32(in);
    uint32_t n = len - 4u;
    if (offset != st.load_received || n > st.load_size - st.load_received) {
        send_error(QHIL_ERR_OFFSET, st.load_received / 256u);
        return;
    }
    memcpy(st.arena + offset, in + 4, n);
    st.load_received += n;
    wr32(payload_out(), st.load_received);
    send(QHIL_MSG_LOAD_CHUNK | 0x80u, 4);
}

static void handle_load_end(void)
{
    if (st.load_size == 0u) {
        send_error(QHIL_ERR_STATE, 0);
        return;
    }
    uint32_t size = st.load_size;
    st.load_size = 0;
    if (st.load_received != size) {
        send_error(QHIL_ERR_OFFSET, st.load_received / 256u);
        return;
    }
    qhil_model_error e = qhil_model_load(&st.model, st.arena, size);
    if (e == QHIL_MODEL_OK) {
        /* INFER/BENCH requests and answers must fit one payload. */
        uint32_t elem = st.model.kind == QHIL_KIND_F32 ? 4u : 2u;
        if (2u + elem * st.model.obs_dim > QHIL_MAX_PAYLOAD ||
            12u + elem * st.model.act_dim > QHIL_MAX_PAYLOAD) {
            st.model.n_layers = 0;
            e = QHIL_MODEL_ERR_SHAPE;
        }
    }
    if (e != QHIL_MODEL_OK) {
        send_error(QHIL_ERR_BAD_MODEL, (uint32_t)e);
        return;
    }
    uint32_t used = (size + 3u) & ~3u;
    if (used < st.arena_size) {
        const uint32_t how = ((st.load_flags & QHIL_LOAD_WIDEN) != 0u ? QHIL_PREPARE_WIDEN : 0u) |
                             ((st.load_flags & QHIL_LOAD_COMPACT) != 0u ? QHIL_PREPARE_COMPACT : 0u);
        used += qhil_model_prepare(&st.model, st.arena + used, st.arena_size - used, how);
    }
    st.stats.loads++;
    uint8_t *out = payload_out();
    wr32(out, st.model.model_id);
    out[4] = st.model.kind;
    out[5] = st.model.n_layers;
    wr16(out + 6, st.model.obs_dim);
    wr16(out + 8, st.model.act_dim);
    wr32(out + 10, st.model.macs);
    wr32(out + 14, used);
    send(QHIL_MSG_LOAD_END | 0x80u, 18);
}

/* The measured call: kept out of line so the compiler cannot move it across the reads. */
#if defined(__clang__)
#define QHIL_NOIPA __attribute__((noinline))
#else
#define QHIL_NOIPA __attribute__((noinline, noipa))
#endif
QHIL_NOIPA static qhil_status run_policy(const void *in, void *out)
{
    if (st.model.kind == QHIL_KIND_F32) {
        return qhil_model_infer_f32(&st.model, (const float *)in, (float *)out);
    }
    return qhil_model_infer(&st.model, (const int16_t *)in, (int16_t *)out);
}

/* Out of line too: every caller (INFER, BENCH's first and repeated runs) then times the
 * same instructions; inlined at two call sites the compiler scheduled them apart. */
QHIL_NOIPA static uint32_t timed_run(const void *in, void *out, qhil_status *status)
{
    uint32_t t0 = qhil_port_cost_now();
    __asm__ volatile("" ::: "memory");
    *status = run_policy(in, out);
    __asm__ volatile("" ::: "memory");
    return qhil_port_cost_now() - t0;
}

/* Input and output aligned for int16/float views (the payload starts at packet byte 6). */
static uint32_t input_words[QHIL_MAX_PAYLOAD / 4u];
static uint32_t result_words[QHIL_MAX_WIDTH];

static int check_input(const uint8_t *in, uint32_t len)
{
    uint32_t elem = st.model.kind == QHIL_KIND_F32 ? 4u : 2u;
    if (len != elem * st.model.obs_dim) {
        send_error(QHIL_ERR_PAYLOAD, elem * st.model.obs_dim);
        return 0;
    }
    memcpy(input_words, in, len);
    if (st.model.kind == QHIL_KIND_F32) {
        const float *x = (const float *)input_words;
        for (uint32_t k = 0; k < st.model.obs_dim; k++) {
            if (!isfinite(x[k])) {
                send_error(QHIL_ERR_INPUT, k);
                return 0;
            }
        }
    }
    return 1;
}

/* BAD_INPUT's detail: the first input code outside the model's range. */
static uint32_t bad_input_index(void)
{
    const int16_t *x = (const int16_t *)input_words;
    uint32_t k = 0;
    while (k < st.model.obs_dim && x[k] <= st.model.in_max && x[k] >= st.model.in_min) {
        k++;
    }
    return k;
}

static void handle_infer(const uint8_t *in, uint32_t len, uint32_t repeats)
{
    if (st.model.n_layers == 0u) {
        send_error(QHIL_ERR_NO_MODEL, 0);
        return;
    }
    if (!check_input(in, len)) {
        return;
    }
    uint32_t elem = st.model.kind == QHIL_KIND_F32 ? 4u : 2u;
    uint32_t header = repeats > 0u ? 12u : 4u;
    uint8_t *out = payload_out();
    qhil_status status = QHIL_OK;
    uint32_t cost = timed_run(input_words, result_words, &status);
    if (status != QHIL_OK) {
        send_error(status, status == QHIL_ERR_INPUT ? bad_input_index() : 0u);
        return;
    }
    st.stats.inferences++;
    if (repeats == 0u) {
        wr32(out, cost);
    } else {
        bench_costs[0] = cost;
        for (uint32_t r = 1; r < repeats; r++) {
            bench_costs[r] = timed_run(input_words, result_words, &status);
        }
        st.stats.inferences += repeats - 1u;
        /* insertion sort: BENCH is a measurement command, not a hot path */
        for (uint32_t i = 1; i < repeats; i++) {
            uint32_t v = bench_costs[i];
            uint32_t j = i;
            while (j > 0u && bench_costs[j - 1u] > v) {
                bench_costs[j] = bench_costs[j - 1u];
                j--;
            }
            bench_costs[j] = v;
        }
        wr32(out, bench_costs[0]);
        wr32(out + 4, bench_costs[repeats / 2u]);
        wr32(out + 8, bench_costs[repeats - 1u]);
    }
    memcpy(out + header, result_words, elem * st.model.act_dim);
    send((uint8_t)(st.type | 0x80u), header + elem * st.model.act_dim);
}

/* One inference with each layer timed: which layer the cost goes to (integer models). */
static void handle_layers(const uint8_t *in, uint32_t len)
{
    if (st.model.n_layers == 0u) {
        send_error(QHIL_ERR_NO_MODEL, 0);
        return;
    }
    if (st.model.kind != QHIL_KIND_INT) {
        send_error(QHIL_ERR_STATE, 0);
        return;
    }
    uint32_t header = 4u + 4u * st.model.n_layers;
    if (header + 2u * st.model.act_dim > QHIL_MAX_PAYLOAD) {
        send_error(QHIL_ERR_OVERFLOW, QHIL_MAX_PAYLOAD); /* the answer would not fit */
        return;
    }
    if (!check_input(in, len)) {
        return;
    }
    uint32_t costs[QHIL_MAX_LAYERS];
    qhil_status status = qhil_model_infer_layers(&st.model, (const int16_t *)input_words,
                                                 (int16_t *)result_words, qhil_port_cost_now,
                                                 costs);
    if (status != QHIL_OK) {
        send_error(status, status == QHIL_ERR_INPUT ? bad_input_index() : 0u);
        return;
    }
    st.stats.inferences++;
    uint8_t *out = payload_out();
    out[0] = st.model.n_layers;
    out[1] = out[2] = out[3] = 0;
    for (uint32_t l = 0; l < st.model.n_layers; l++) {
        wr32(out + 4u + 4u * l, costs[l]);
    }
    memcpy(out + header, result_words, 2u * st.model.act_dim);
    send(QHIL_MSG_LAYERS | 0x80u, header + 2u * st.model.act_dim);
}

static void handle_bench(const uint8_t *in, uint32_t len)
{
    if (len < 2u) {
        send_error(QHIL_ERR_PAYLOAD, 2);
        return;
    }
    uint32_t repeats = (uint32_t)in[0] | ((uint32_t)in[1] << 8);
    if (repeats < 1u || repeats > BENCH_MAX) {
        send_error(QHIL_ERR_PAYLOAD, BENCH_MAX);
        return;
    }
    handle_infer(in + 2, len - 2u, repeats);
}

static void handle_stats(void)
{
    uint8_t *out = payload_out();
    const qhil_stats *s = &st.stats;
    uint32_t values[8] = {s->frames_ok,  s->crc_errors, s->framing_errors,
                          s->rejects,    s->inferences, s->loads,
                          st.model.n_layers ? st.model.model_id : 0u,
                          (qhil_port_cost_now() - st.epoch) >> 16};
    for (uint32_t i = 0; i < 8u; i++) {
        wr32(out + 4u * i, values[i]);
    }
    send(QHIL_MSG_STATS | 0x80u, 32);
}

static const uint8_t *builtin_blob;
static uint32_t builtin_size;

static qhil_model_error activate_builtin(void)
{
    qhil_model_error e = qhil_model_load(&st.model, builtin_blob, builtin_size);
    if (e != QHIL_MODEL_OK) {
        st.model.n_layers = 0;
        return e;
    }
    qhil_model_prepare(&st.model, st.arena, st.arena_size, 0); /* read where it is stored */
    return QHIL_MODEL_OK;
}

void qhil_proto_init(uint8_t *arena, uint32_t arena_size)
{
    memset(&st, 0, sizeof st);
    st.arena = arena;
    st.arena_size = arena_size;
    st.epoch = qhil_port_cost_now();
    builtin_blob = NULL;
    builtin_size = 0;
}

qhil_model_error qhil_proto_set_builtin(const uint8_t *blob, uint32_t size)
{
    builtin_blob = blob;
    builtin_size = size;
    return activate_builtin();
}

void qhil_proto_handle_packet(const uint8_t *pkt, uint32_t len)
{
    st.seq = 0;
    st.type = 0;
    if (len < QHIL_PACKET_OVERHEAD) {
        st.stats.framing_errors++;
        send_error(QHIL_ERR_LENGTH, len);
        return;
    }
    st.seq = (uint16_t)(pkt[2] | (pkt[3] << 8));
    uint32_t n = (uint32_t)pkt[4] | ((uint32_t)pkt[5] << 8);
    if (n + QHIL_PACKET_OVERHEAD != len) {
        st.stats.framing_errors++;
        send_error(QHIL_ERR_LENGTH, len);
        return;
    }
    if (qhil_crc32(0, pkt, len - 4u) != rd32(pkt + len - 4u)) {
        st.stats.crc_errors++;
        send_error(QHIL_ERR_CRC, 0);
        return;
    }
    st.type = pkt[1];
    if (n > QHIL_MAX_PAYLOAD) {
        /* readable, but larger than HELLO's maximum: refused whatever its type */
        st.stats.framing_errors++;
        send_error(QHIL_ERR_OVERFLOW, QHIL_MAX_PAYLOAD);
        return;
    }
    if (pkt[0] != QHIL_PROTO_VERSION) {
        send_error(QHIL_ERR_VERSION, pkt[0]);
        return;
    }
    st.stats.frames_ok++;
    const uint8_t *in = pkt + 6;
    if (n != 0u && (st.type == QHIL_MSG_HELLO || st.type == QHIL_MSG_RESET ||
                    st.type == QHIL_MSG_STATS || st.type == QHIL_MSG_LOAD_END)) {
        send_error(QHIL_ERR_PAYLOAD, 0); /* these requests carry no payload */
        return;
    }
    switch (st.type) {
    case QHIL_MSG_HELLO:
        send_hello();
        break;
    case QHIL_MSG_LOAD_BEGIN:
        handle_load_begin(in, n);
        break;
    case QHIL_MSG_LOAD_CHUNK:
        handle_load_chunk(in, n);
        break;
    case QHIL_MSG_LOAD_END:
        handle_load_end();
        break;
    case QHIL_MSG_INFER:
        handle_infer(in, n, 0);
        break;
    case QHIL_MSG_BENCH:
        handle_bench(in, n);
        break;
    case QHIL_MSG_RESET:
        send(QHIL_MSG_RESET | 0x80u, 0);
        st.model.n_layers = 0;
        st.load_size = 0;
        memset(&st.stats, 0, sizeof st.stats);
        st.epoch = qhil_port_cost_now();
        if (builtin_blob != NULL) {
            activate_builtin();
        }
        qhil_port_reset(); /* a board reboots here and announces itself from main() */
        qhil_proto_announce();
        break;
    case QHIL_MSG_STATS:
        handle_stats();
        break;
    case QHIL_MSG_LAYERS:
        handle_layers(in, n);
        break;
    default:
        send_error(QHIL_ERR_UNKNOWN_TYPE, st.type);
        break;
    }
}

/* Decoded packets land here; aligned so handlers may take typed views. */
static uint32_t rx_packet_words[(QHIL_MAX_PACKET + 3u) / 4u];

void qhil_proto_rx_byte(uint8_t byte)
{
    if (byte != 0u) {
        if (st.rx_len < sizeof st.rx) {
            st.rx[st.rx_len++] = byte;
        } else {
            st.rx_overflow = 1;
        }
        return;
    }
    if (st.rx_overflow) {
        st.rx_len = 0;
        st.rx_overflow = 0;
        st.stats.framing_errors++;
        st.seq = 0;
        st.type = 0;
        send_error(QHIL_ERR_OVERFLOW, 0);
        return;
    }
    if (st.rx_len == 0u) {
        return; /* back-to-back delimiters: idle line, not an error */
    }
    int32_t n = qhil_cobs_decode(st.rx, st.rx_len, (uint8_t *)rx_packet_words,
                                 sizeof rx_packet_words);
    st.rx_len = 0;
    if (n < 0) {
        st.stats.framing_errors++;
        st.seq = 0;
        st.type = 0;
        send_error(QHIL_ERR_FRAME, 0);
        return;
    }
    qhil_proto_handle_packet((const uint8_t *)rx_packet_words, (uint32_t)n);
}
