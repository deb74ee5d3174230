/* FastAGI load generator: plays Asterisk's side of many FastAGI connections as fast as one core allows.
 *
 * Each connection sends an agi_* header for script "bench", then answers every command line it reads with
 * "200 result=0". When the server closes a connection (its flow ended) the call is counted and a new connection
 * is opened at once. Written in C so that the generator is never the bottleneck of what is measured.
 *
 * usage: agi_loadgen PORT CONNECTIONS WARMUP_SECONDS MEASURE_SECONDS
 * prints: commands=<n> calls=<n> seconds=<s> total_commands=<n> total_calls=<n>
 * (commands and calls are counted in the measured window; the totals include the warm-up, for CPU per command)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char HEADER[] =
    "agi_network: yes\nagi_network_script: bench\nagi_request: agi://127.0.0.1/bench\n"
    "agi_channel: PJSIP/bench-00000001\nagi_language: en\nagi_type: PJSIP\nagi_uniqueid: 1700000000.1\n"
    "agi_version: 22.0.0\nagi_callerid: 100\nagi_calleridname: unknown\nagi_callingpres: 0\n"
    "agi_callingani2: 0\nagi_callington: 0\nagi_callingtns: 0\nagi_dnid: 100\nagi_rdnis: unknown\n"
    "agi_context: from-callers\nagi_extension: 100\nagi_priority: 2\nagi_enhanced: 0.0\n"
    "agi_accountcode: \nagi_threadid: 1\n\n";
static const char REPLY[] = "200 result=0\n";

static int port;
static long commands, calls, total_commands, total_calls;
static int counting;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int open_call(int ep) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    int one = 1;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("connect");
        exit(2);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (write(fd, HEADER, sizeof HEADER - 1) != (ssize_t)(sizeof HEADER - 1)) {
        perror("write header");
        exit(2);
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return fd;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s PORT CONNECTIONS WARMUP_SECONDS MEASURE_SECONDS\n", argv[0]);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    port = atoi(argv[1]);
    int conns = atoi(argv[2]);
    double warmup = atof(argv[3]), measure = atof(argv[4]);
    int ep = epoll_create1(0);
    for (int i = 0; i < conns; i++) open_call(ep);
    struct epoll_event events[256];
    char buf[65536], out[65536];
    double start = now(), measured_from = start + warmup, end = measured_from + measure;
    for (;;) {
        double t = now();
        if (!counting && t >= measured_from) counting = 1;
        if (t >= end) break;
        int n = epoll_wait(ep, events, 256, 100);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            ssize_t got = read(fd, buf, sizeof buf);
            if (got <= 0) {
                if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                close(fd);
                total_calls++;
                if (counting) calls++;
                open_call(ep);
                continue;
            }
            size_t len = 0;
            for (ssize_t k = 0; k < got; k++) {
                if (buf[k] == '\n' && len + sizeof REPLY < sizeof out) {
                    memcpy(out + len, REPLY, sizeof REPLY - 1);
                    len += sizeof REPLY - 1;
                    total_commands++;
                    if (counting) commands++;
                }
            }
            if (len && write(fd, out, len) < 0 && errno != EPIPE && errno != ECONNRESET) perror("write");
        }
    }
    printf("commands=%ld calls=%ld seconds=%.3f total_commands=%ld total_calls=%ld\n", commands, calls, measure,
           total_commands, total_calls);
    return 0;
}
