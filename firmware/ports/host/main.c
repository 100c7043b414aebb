/* esnn_board - the host board: the C runtime + serial protocol (firmware/PROTOCOL.md) as a Linux process.
 *
 *   esnn_board [--name NAME] [--max-payload N] [--no-announce] MODEL.esnn          serve on stdin/stdout
 *   esnn_board --pty [...] MODEL.esnn          open a pseudo-terminal, print its path on stdout, serve on it
 *
 * The model is read from a file into static storage (no malloc). The protocol runs either way: a model that
 * does not load is reported in INFO (model_status) and requests that need it get NO_MODEL. When stdin is a
 * terminal it is switched to raw mode. Exit status: 0 at end of input, 1 usage or I/O error.
 * This file is the port's main: the only place with static storage.
 */
#define _XOPEN_SOURCE 600
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "esnn_proto.h"

#define MODEL_MAX (8u << 20)
#define ARENA_MAX (64u << 20)
#define INPUT_MAX (16u << 20)
#define PAYLOAD_MAX 65535u
#define TX_MAX (ESNN_PROTO_OVERHEAD + 16u + 4u * (1024u + 256u))

static uint8_t g_model[MODEL_MAX];
static uint64_t g_arena[ARENA_MAX / 8u];
static uint8_t g_input[INPUT_MAX];
static uint8_t g_rx[ESNN_PROTO_OVERHEAD + PAYLOAD_MAX];
static uint8_t g_tx[TX_MAX];
static esnn_proto_t g_proto;

typedef struct {
    int fd;
    int failed;
} sink_t;

static void write_all(void *user, const uint8_t *data, size_t len) {
    sink_t *s = (sink_t *)user;
    while (len > 0 && !s->failed) {
        ssize_t k = write(s->fd, data, len);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            s->failed = 1;
            break;
        }
        data += k;
        len -= (size_t)k;
    }
}

static uint64_t now_ns(void *user) {
    struct timespec ts;
    (void)user;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int read_model(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    size_t n;
    if (!f) return 0;
    n = fread(g_model, 1, MODEL_MAX, f);
    if (!ferror(f) && n == MODEL_MAX && fgetc(f) != EOF) n = MODEL_MAX + 1u;
    fclose(f);
    if (n > MODEL_MAX) {
        fprintf(stderr, "esnn_board: %s is larger than %u bytes\n", path, MODEL_MAX);
        return 0;
    }
    *len = n;
    return 1;
}

static void make_raw(int fd) {
    struct termios t;
    if (tcgetattr(fd, &t) != 0) return;
    /* cfmakeraw(), spelled out in POSIX terms */
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_oflag &= ~(tcflag_t)OPOST;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
    t.c_cflag |= CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    tcsetattr(fd, TCSANOW, &t);
}

/* Open a pty master; print the slave's path. The slave stays open here so the master never sees EIO
 * (hang-up) between two host connections. */
static int open_pty(int *keep_slave) {
    const char *name;
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0 || !(name = ptsname(m))) return -1;
    *keep_slave = open(name, O_RDWR | O_NOCTTY);
    if (*keep_slave < 0) return -1;
    make_raw(*keep_slave);
    printf("%s\n", name);
    fflush(stdout);
    return m;
}

int main(int argc, char **argv) {
    const char *name = "host", *model = NULL;
    unsigned long max_payload = PAYLOAD_MAX;
    int use_pty = 0, announce = 1, in_fd = 0, a, keep_slave = -1;
    size_t model_len = 0;
    sink_t sink = {1, 0};
    esnn_port_t port;
    esnn_proto_mem_t mem;
    esnn_status_t st;
    uint8_t buf[4096];
    for (a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--pty") == 0)
            use_pty = 1;
        else if (strcmp(argv[a], "--no-announce") == 0)
            announce = 0;
        else if (strcmp(argv[a], "--name") == 0 && a + 1 < argc)
            name = argv[++a];
        else if (strcmp(argv[a], "--max-payload") == 0 && a + 1 < argc)
            max_payload = strtoul(argv[++a], NULL, 10);
        else if (argv[a][0] != '-' && !model)
            model = argv[a];
        else
            break;
    }
    if (a != argc || !model || max_payload < 8u || max_payload > PAYLOAD_MAX || strlen(name) > 32u) {
        fprintf(stderr, "usage: esnn_board [--pty] [--name NAME] [--max-payload 8..65535] [--no-announce] MODEL\n");
        return 1;
    }
    if (!read_model(model, &model_len)) {
        fprintf(stderr, "esnn_board: cannot read %s\n", model);
        return 1;
    }
    if (use_pty) {
        in_fd = open_pty(&keep_slave);
        if (in_fd < 0) {
            fprintf(stderr, "esnn_board: cannot open a pseudo-terminal: %s\n", strerror(errno));
            return 1;
        }
        sink.fd = in_fd;
    } else if (isatty(0)) {
        make_raw(0);
    }
    port.write = write_all;
    port.counter = now_ns;
    port.counter_kind = ESNN_COUNTER_NANOSECONDS;
    port.device_name = name;
    port.user = &sink;
    mem.rx = g_rx;
    mem.rx_cap = ESNN_PROTO_OVERHEAD + max_payload;
    mem.tx = g_tx;
    mem.tx_cap = sizeof g_tx;
    mem.input = g_input;
    mem.input_cap = sizeof g_input;
    mem.arena = g_arena;
    mem.arena_cap = sizeof g_arena;
    mem.options = 0; /* the lean plan */
    st = esnn_proto_init(&g_proto, &port, g_model, model_len, &mem);
    if (st != ESNN_OK) fprintf(stderr, "esnn_board: model %s: %s (reported in INFO)\n", model, esnn_status_name(st));
    if (announce) esnn_proto_announce(&g_proto);
    while (!sink.failed) {
        ssize_t k = read(in_fd, buf, sizeof buf);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        esnn_proto_feed(&g_proto, buf, (size_t)k);
    }
    if (keep_slave >= 0) close(keep_slave);
    return sink.failed ? 1 : 0;
}
