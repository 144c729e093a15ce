/*
 * arpblast: ARP/NDP traffic for Herald's integration tests and benchmarks. Runs in a
 * client network namespace and talks only on the interface it is given.
 *
 *   arpblast IFACE latency TARGET COUNT      request/reply latency on the wire, µs
 *   arpblast IFACE flood TARGET RATE SECONDS requests at RATE/s (0: as fast as it can); counts
 *                                            the replies
 *   arpblast IFACE garbage COUNT SEED        malformed ARP and NDP frames
 *   arpblast IFACE watch TARGET SECONDS      a request every 2 ms; prints "REALTIME_NS MAC"
 *                                            for the first answer and again when the answering
 *                                            MAC changes, then exits (or after SECONDS)
 *   arpblast IFACE asks TARGET INTERVAL_MS   a request every INTERVAL_MS until SIGTERM/SIGINT;
 *                                            then counts the requests answered within 500 ms
 *                                            (or 50 intervals, if shorter) and which MACs answered
 *   arpblast IFACE sweep FIRST COUNT SECONDS asks for COUNT consecutive addresses from FIRST, each
 *                                            unanswered one again every 100 ms, until all have
 *                                            answered or SECONDS pass; prints how many answered and
 *                                            when (ms from the start) the first answers came: p50,
 *                                            p99 and the last
 *   arpblast IFACE sample FIRST COUNT INTERVAL_MS  asks for COUNT consecutive addresses from FIRST every
 *                                            INTERVAL_MS until SIGTERM/SIGINT; prints "S MICROSECONDS" per round and
 *                                            "R MICROSECONDS ADDRESS MAC" per reply (CLOCK_MONOTONIC), for the chaos
 *                                            run to tell, per address and moment, who answered: nobody, one MAC or two
 *   arpblast IFACE respond TARGET            answers ARP requests for TARGET from user space, as
 *                                            little as that can be (a blocking packet socket with a
 *                                            filter, reply sent at once), until SIGTERM: the floor
 *                                            of any responder that is not the kernel
 *
 * `asks` sends each request from one of 50 sender addresses (.200-.249 of the interface's
 * /24, unused in the lab) in turn, so every reply names the request it answers.
 *
 * Latency uses kernel timestamps from one packet socket that sees both our outgoing
 * request (PACKET_OUTGOING) and the reply, the same points tcpdump would timestamp.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int sock;    /* sends */
static int rxsock;  /* receives, and also sees what `sock` sent, as tcpdump would */
static int ifindex;
static uint8_t our_mac[6];
static uint32_t our_ip; /* network order */

static void die(const char *what) { perror(what); exit(2); }

static int bound_socket(void) {
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd < 0) die("socket");
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = ifindex};
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) die("bind");
    int size = 32 << 20, on = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    return fd;
}

static void open_socket(const char *ifname) {
    sock = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (sock < 0) die("socket");
    struct ifreq ifr = {0};
    strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
    if (ioctl(sock, SIOCGIFINDEX, &ifr) < 0) die("SIOCGIFINDEX");
    ifindex = ifr.ifr_ifindex;
    if (ioctl(sock, SIOCGIFHWADDR, &ifr) < 0) die("SIOCGIFHWADDR");
    memcpy(our_mac, ifr.ifr_hwaddr.sa_data, 6);
    int probe = socket(AF_INET, SOCK_DGRAM, 0);
    if (ioctl(probe, SIOCGIFADDR, &ifr) == 0) our_ip = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr.s_addr;
    close(probe);
    close(sock);
    sock = bound_socket();
    rxsock = bound_socket();
}

static size_t arp_request(uint8_t *frame, uint32_t target) {
    memset(frame, 0xff, 6);
    memcpy(frame + 6, our_mac, 6);
    frame[12] = 0x08; frame[13] = 0x06;
    uint8_t *a = frame + 14;
    a[0] = 0; a[1] = 1; a[2] = 0x08; a[3] = 0; a[4] = 6; a[5] = 4; a[6] = 0; a[7] = 1;
    memcpy(a + 8, our_mac, 6);
    memcpy(a + 14, &our_ip, 4);
    memset(a + 18, 0, 6);
    memcpy(a + 24, &target, 4);
    return 42;
}

static int is_reply_from(const uint8_t *f, ssize_t n, uint32_t target) {
    return n >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[20] == 0 && f[21] == 2 &&
           memcmp(f + 28, &target, 4) == 0 && memcmp(f + 32, our_mac, 6) == 0;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* Receives one frame with its kernel timestamp and packet type; -1 on timeout. */
static ssize_t receive(uint8_t *buf, size_t size, struct timespec *stamp, int *pkttype) {
    struct sockaddr_ll from;
    struct iovec iov = {buf, size};
    char control[256];
    struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control, .msg_controllen = sizeof control};
    ssize_t n = recvmsg(rxsock, &msg, 0);
    if (n < 0) return -1;
    *pkttype = from.sll_pkttype;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) memcpy(stamp, CMSG_DATA(c), sizeof *stamp);
    return n;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int latency(uint32_t target, int count) {
    struct timeval tv = {0, 100000};
    setsockopt(rxsock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    double *samples = calloc(count, sizeof *samples);
    int got = 0, lost = 0;
    uint8_t frame[64], buf[2048];
    for (int i = 0; i < count; i++) {
        size_t len = arp_request(frame, target);
        if (send(sock, frame, len, 0) < 0) die("send");
        struct timespec sent = {0}, replied = {0}, stamp;
        int type;
        double deadline = now_s() + 0.2;
        while (now_s() < deadline) {
            ssize_t n = receive(buf, sizeof buf, &stamp, &type);
            if (n < 0) continue;
            if (type == PACKET_OUTGOING && n >= 42 && memcmp(buf, frame, 42) == 0) sent = stamp;
            else if (type != PACKET_OUTGOING && is_reply_from(buf, n, target)) { replied = stamp; break; }
        }
        if (sent.tv_sec && replied.tv_sec) {
            samples[got++] = (replied.tv_sec - sent.tv_sec) * 1e6 + (replied.tv_nsec - sent.tv_nsec) / 1e3;
        } else {
            lost++;
        }
        usleep(2000);
    }
    qsort(samples, got, sizeof *samples, compare_double);
    if (got == 0) { printf("samples=0 lost=%d\n", lost); return 1; }
    printf("samples=%d lost=%d p50_us=%.1f p99_us=%.1f min_us=%.1f max_us=%.1f\n", got, lost,
           samples[(int)(got * 0.50)], samples[(int)(got * 0.99) < got ? (int)(got * 0.99) : got - 1],
           samples[0], samples[got - 1]);
    return 0;
}

static volatile int flooding = 1;
static uint32_t flood_target;
static long replies;

static void *count_replies(void *unused) {
    (void)unused;
    uint8_t buf[2048];
    struct timeval tv = {0, 50000};
    setsockopt(rxsock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (;;) {
        ssize_t n = recv(rxsock, buf, sizeof buf, 0);
        if (n > 0 && is_reply_from(buf, n, flood_target)) replies++;
        if (n < 0 && !flooding) return NULL;
    }
}

static int flood(uint32_t target, long rate, double seconds) {
    flood_target = target;
    pthread_t counter;
    pthread_create(&counter, NULL, count_replies, NULL);
    uint8_t frame[64];
    size_t len = arp_request(frame, target);
    long sent = 0, total = rate > 0 ? (long)(rate * seconds) : LONG_MAX;
    double start = now_s();
    while (sent < total) {
        double elapsed = now_s() - start;
        if (rate <= 0 && elapsed >= seconds) break;
        long due = rate > 0 ? (long)(elapsed * rate) : sent + 256;
        if (due > total) due = total;
        while (sent < due) {
            if (send(sock, frame, len, 0) == (ssize_t)len) sent++;
            else if (errno != ENOBUFS && errno != EAGAIN) die("send");
        }
        if (sent < total && rate > 0) usleep(200);
    }
    double elapsed = now_s() - start;
    usleep(500000); /* late replies */
    flooding = 0;
    pthread_join(counter, NULL);
    printf("sent=%ld replied=%ld seconds=%.3f offered_per_s=%.0f answered_per_s=%.0f fraction=%.5f\n", sent, replies,
           elapsed, sent / elapsed, replies / elapsed, sent ? (double)replies / sent : 0);
    return 0;
}

static uint64_t rng_state;
static uint64_t rnd(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A valid-looking neighbor solicitation for 2001:db8:100::50 (checksum not fixed up). */
static size_t solicitation(uint8_t *f) {
    static const uint8_t ns[] = {
        0x33, 0x33, 0xff, 0x00, 0x00, 0x50, 0, 0, 0, 0, 0, 0, 0x86, 0xdd, 0x60, 0, 0, 0, 0, 32, 58, 255,
        0x20, 0x01, 0x0d, 0xb8, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0x00, 0x00, 0x50,
        135, 0, 0, 0, 0, 0, 0, 0,
        0x20, 0x01, 0x0d, 0xb8, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x50,
        1, 1, 0, 0, 0, 0, 0, 0};
    memcpy(f, ns, sizeof ns);
    memcpy(f + 6, our_mac, 6);
    memcpy(f + 80, our_mac, 6);
    return sizeof ns;
}

static int garbage(long count, uint64_t seed) {
    rng_state = seed;
    uint8_t frame[128];
    inet_pton(AF_INET, "198.51.100.50", &flood_target);
    for (long i = 0; i < count; i++) {
        size_t len = (i & 1) ? solicitation(frame) : arp_request(frame, flood_target);
        switch (rnd() % 6) {
        case 0: len = 14 + rnd() % (len - 14); break;                       /* runt */
        case 1: frame[14 + rnd() % (len - 14)] ^= 1u << (rnd() % 8); break; /* bit flip */
        case 2: if (!(i & 1)) frame[18 + rnd() % 2] = rnd(); else frame[21] = 64; break; /* hlen/plen, hop limit */
        case 3: if (!(i & 1)) frame[21] = 3 + rnd() % 200; else frame[79] = 0; break;   /* op, option length 0 */
        case 4: if (!(i & 1)) memset(frame + 22, 0xff, 6); else frame[19] = 255; break;  /* broadcast sender, length */
        default: for (size_t j = 14; j < len; j++) frame[j] = rnd(); break;
        }
        if (send(sock, frame, len, 0) < 0 && errno != ENOBUFS) die("send");
        if (i % 512 == 511) usleep(1000);
    }
    printf("sent=%ld\n", count);
    return 0;
}

/* Failover observer: who answers TARGET, and since when (CLOCK_REALTIME, to compare with
 * `date +%s%N` in the script that injects faults). */
static int watch(uint32_t target, double seconds) {
    struct timeval tv = {0, 1000};
    setsockopt(rxsock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    uint8_t frame[64], buf[2048];
    size_t len = arp_request(frame, target);
    uint8_t last[6] = {0};
    int changes = 0;
    double end = now_s() + seconds, next_send = 0;
    while (now_s() < end) {
        if (now_s() >= next_send) {
            send(sock, frame, len, 0);
            next_send = now_s() + 0.002;
        }
        ssize_t n = recv(rxsock, buf, sizeof buf, 0);
        if (n > 0 && is_reply_from(buf, n, target) && memcmp(buf + 22, last, 6) != 0) {
            memcpy(last, buf + 22, 6);
            struct timespec t;
            clock_gettime(CLOCK_REALTIME, &t);
            printf("%lld %02x:%02x:%02x:%02x:%02x:%02x\n", (long long)t.tv_sec * 1000000000LL + t.tv_nsec,
                   last[0], last[1], last[2], last[3], last[4], last[5]);
            fflush(stdout);
            if (++changes == 2) return 0;
        }
    }
    return 0;
}

static volatile sig_atomic_t asking = 1;
static void stop_asking(int sig) { (void)sig; asking = 0; }

struct ask { double sent; double answered; uint8_t mac[6]; };
static struct ask *asks;
static long ask_count, ask_capacity;
static double ask_wait;
static pthread_mutex_t ask_lock = PTHREAD_MUTEX_INITIALIZER;

static uint32_t ask_sender(long i) {
    uint32_t base = ntohl(our_ip) & 0xffffff00u;
    return htonl(base | (200 + i % 50));
}

/* Whether answers may still come: asking, or the last request's wait has not run out. */
static int collecting(void) {
    pthread_mutex_lock(&ask_lock);
    int more = asking || (ask_count > 0 && now_s() < asks[ask_count - 1].sent + ask_wait);
    pthread_mutex_unlock(&ask_lock);
    return more;
}

static void *collect_answers(void *unused) {
    (void)unused;
    uint8_t buf[2048];
    struct timeval tv = {0, 20000};
    setsockopt(rxsock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (collecting()) {
        ssize_t n = recv(rxsock, buf, sizeof buf, 0);
        if (n < 42 || buf[12] != 0x08 || buf[13] != 0x06 || buf[21] != 2 || memcmp(buf + 32, our_mac, 6) != 0) continue;
        uint32_t to;
        memcpy(&to, buf + 38, 4);
        uint32_t host = ntohl(to) & 0xff;
        if ((ntohl(to) & 0xffffff00u) != (ntohl(our_ip) & 0xffffff00u) || host < 200 || host >= 250) continue;
        double now = now_s();
        pthread_mutex_lock(&ask_lock);
        /* The newest request from that sender address; answers count within the wait. */
        for (long i = ask_count - 1; i >= 0 && i >= ask_count - 50; i--) {
            if (i % 50 != (long)(host - 200)) continue;
            if (asks[i].answered == 0 && now - asks[i].sent <= ask_wait) {
                asks[i].answered = now;
                memcpy(asks[i].mac, buf + 22, 6);
            }
            break;
        }
        pthread_mutex_unlock(&ask_lock);
    }
    return NULL;
}

static int ask(uint32_t target, double interval) {
    signal(SIGTERM, stop_asking);
    signal(SIGINT, stop_asking);
    ask_wait = interval * 50 < 0.5 ? interval * 50 : 0.5;
    pthread_t collector;
    pthread_create(&collector, NULL, collect_answers, NULL);
    uint8_t frame[64];
    double start = now_s();
    while (asking) {
        double due = start + ask_count * interval;
        if (now_s() < due) {
            usleep((useconds_t)((due - now_s()) * 1e6));
            continue;
        }
        pthread_mutex_lock(&ask_lock);
        if (ask_count == ask_capacity) {
            ask_capacity = ask_capacity ? ask_capacity * 2 : 4096;
            asks = realloc(asks, ask_capacity * sizeof *asks);
        }
        size_t len = arp_request(frame, target);
        uint32_t sender = ask_sender(ask_count);
        memcpy(frame + 28, &sender, 4);
        asks[ask_count] = (struct ask){.sent = now_s()};
        ask_count++;
        pthread_mutex_unlock(&ask_lock);
        send(sock, frame, len, 0);
    }
    pthread_join(collector, NULL);
    long answered = 0;
    double worst = 0;
    char macs[512] = "";
    uint8_t seen[8][6];
    long seen_count[8] = {0};
    int distinct = 0;
    for (long i = 0; i < ask_count; i++) {
        if (asks[i].answered == 0) {
            struct timespec wall;
            clock_gettime(CLOCK_REALTIME, &wall);
            double at = wall.tv_sec + wall.tv_nsec / 1e9 - (now_s() - asks[i].sent);
            time_t whole = (time_t)at;
            struct tm utc;
            gmtime_r(&whole, &utc);
            printf("unanswered: request %ld at +%.3f s (%02d:%02d:%02d.%03dZ)\n", i, asks[i].sent - start, utc.tm_hour,
                   utc.tm_min, utc.tm_sec, (int)((at - whole) * 1000));
            continue;
        }
        answered++;
        if (asks[i].answered - asks[i].sent > worst) worst = asks[i].answered - asks[i].sent;
        int j = 0;
        while (j < distinct && memcmp(seen[j], asks[i].mac, 6) != 0) j++;
        if (j == distinct && distinct < 8) memcpy(seen[distinct++], asks[i].mac, 6);
        if (j < 8) seen_count[j]++;
    }
    for (int j = 0; j < distinct; j++)
        snprintf(macs + strlen(macs), sizeof macs - strlen(macs), "%s%02x:%02x:%02x:%02x:%02x:%02x=%ld", j ? "," : "",
                 seen[j][0], seen[j][1], seen[j][2], seen[j][3], seen[j][4], seen[j][5], seen_count[j]);
    printf("asks=%ld answered=%ld unanswered=%ld slowest_ms=%.1f macs=%s\n", ask_count, answered, ask_count - answered,
           worst * 1e3, macs);
    return 0;
}

static int sweep(uint32_t first, long count, double seconds) {
    struct timeval tv = {0, 10000};
    setsockopt(rxsock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    double *answered = calloc(count, sizeof *answered);
    double *asked = calloc(count, sizeof *asked);
    long got = 0, next = 0;
    uint8_t frame[64], buf[2048];
    double start = now_s(), end = start + seconds;
    while (got < count && now_s() < end) {
        /* A bounded batch of requests per turn (about 20,000/s at most), then read replies. */
        double turn = now_s();
        for (int sent = 0; sent < 200; sent++) {
            long index = next;
            long scanned = 0;
            while (scanned < count && (answered[index] || turn - asked[index] < 0.1)) {
                index = (index + 1) % count;
                scanned++;
            }
            if (scanned == count) break;
            uint32_t target = htonl(ntohl(first) + (uint32_t)index);
            send(sock, frame, arp_request(frame, target), 0);
            asked[index] = turn;
            next = (index + 1) % count;
        }
        struct timespec stamp;
        int type;
        ssize_t n;
        while ((n = receive(buf, sizeof buf, &stamp, &type)) >= 0) {
            if (type == PACKET_OUTGOING || n < 42 || buf[12] != 0x08 || buf[13] != 0x06 || buf[21] != 2) continue;
            if (memcmp(buf + 32, our_mac, 6) != 0) continue;
            uint32_t sender;
            memcpy(&sender, buf + 28, 4);
            long index = (long)(ntohl(sender) - ntohl(first));
            if (index < 0 || index >= count || answered[index]) continue;
            answered[index] = now_s() - start;
            got++;
        }
    }
    double *times = calloc(got ? got : 1, sizeof *times);
    long k = 0;
    for (long i = 0; i < count; i++) if (answered[i]) times[k++] = answered[i];
    qsort(times, got, sizeof *times, compare_double);
    printf("answered=%ld count=%ld p50_ms=%.0f p99_ms=%.0f last_ms=%.0f\n", got, count,
           got ? times[got / 2] * 1e3 : 0, got ? times[(got * 99) / 100 < got ? (got * 99) / 100 : got - 1] * 1e3 : 0,
           got ? times[got - 1] * 1e3 : 0);
    return got == count ? 0 : 1;
}

static int respond(uint32_t target) {
    uint8_t buf[2048], reply[42];
    /* Woken only for ARP frames asking for TARGET, as a responder would set itself up. */
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0806, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 38),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ntohl(target), 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0xffff),
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_fprog program = {sizeof code / sizeof code[0], code};
    if (setsockopt(sock, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) < 0) die("SO_ATTACH_FILTER");
    for (;;) {
        ssize_t n = recv(sock, buf, sizeof buf, 0);
        if (n < 0) die("recv");
        if (n < 42 || buf[12] != 0x08 || buf[13] != 0x06 || buf[21] != 1 || memcmp(buf + 38, &target, 4) != 0) continue;
        memcpy(reply, buf + 6, 6);          /* to the asker */
        memcpy(reply + 6, our_mac, 6);
        reply[12] = 0x08; reply[13] = 0x06;
        memcpy(reply + 14, buf + 14, 6);    /* htype, ptype, sizes */
        reply[20] = 0; reply[21] = 2;
        memcpy(reply + 22, our_mac, 6);
        memcpy(reply + 28, &target, 4);
        memcpy(reply + 32, buf + 22, 10);   /* the asker's MAC and address */
        if (send(sock, reply, sizeof reply, 0) < 0) die("send");
    }
    return 0; /* not reached: stopped by a signal */
}

static int sample(uint32_t first, long count, double interval) {
    signal(SIGINT, stop_asking);
    signal(SIGTERM, stop_asking);
    struct timeval tv = {0, 1000};
    setsockopt(rxsock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    static char out[1 << 20];
    setvbuf(stdout, out, _IOFBF, sizeof out);
    uint8_t frame[64], buf[2048];
    double next = now_s();
    while (asking) {
        double t = now_s();
        if (t >= next) {
            printf("S %lld\n", (long long)(t * 1e6));
            for (long i = 0; i < count; i++) {
                uint32_t target = htonl(ntohl(first) + (uint32_t)i);
                size_t len = arp_request(frame, target);
                send(sock, frame, len, 0);
            }
            next += interval;
            if (next < t) next = t + interval;  /* late: no burst of catch-up rounds */
        }
        ssize_t n = recv(rxsock, buf, sizeof buf, 0);
        if (n < 42 || buf[12] != 0x08 || buf[13] != 0x06 || buf[21] != 2 || memcmp(buf + 32, our_mac, 6) != 0) continue;
        uint32_t from;
        memcpy(&from, buf + 28, 4);
        char address[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &from, address, sizeof address);
        printf("R %lld %s %02x:%02x:%02x:%02x:%02x:%02x\n", (long long)(now_s() * 1e6), address,
               buf[22], buf[23], buf[24], buf[25], buf[26], buf[27]);
    }
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s IFACE latency TARGET COUNT | flood TARGET RATE SECONDS | garbage COUNT SEED\n"
                        "       | watch TARGET SECONDS | asks TARGET INTERVAL_MS | sweep FIRST COUNT SECONDS | respond TARGET\n"
                        "       | sample FIRST COUNT INTERVAL_MS\n", argv[0]);
        return 2;
    }
    open_socket(argv[1]);
    uint32_t target;
    if (!strcmp(argv[2], "latency") && argc == 5 && inet_pton(AF_INET, argv[3], &target) == 1)
        return latency(target, atoi(argv[4]));
    if (!strcmp(argv[2], "flood") && argc == 6 && inet_pton(AF_INET, argv[3], &target) == 1)
        return flood(target, atol(argv[4]), atof(argv[5]));
    if (!strcmp(argv[2], "watch") && argc == 5 && inet_pton(AF_INET, argv[3], &target) == 1)
        return watch(target, atof(argv[4]));
    if (!strcmp(argv[2], "asks") && argc == 5 && inet_pton(AF_INET, argv[3], &target) == 1 && atof(argv[4]) > 0)
        return ask(target, atof(argv[4]) / 1000);
    if (!strcmp(argv[2], "sample") && argc == 6 && inet_pton(AF_INET, argv[3], &target) == 1 && atol(argv[4]) > 0 && atof(argv[5]) > 0)
        return sample(target, atol(argv[4]), atof(argv[5]) / 1000);
    if (!strcmp(argv[2], "respond") && argc == 4 && inet_pton(AF_INET, argv[3], &target) == 1)
        return respond(target);
    if (!strcmp(argv[2], "sweep") && argc == 6 && inet_pton(AF_INET, argv[3], &target) == 1 && atol(argv[4]) > 0)
        return sweep(target, atol(argv[4]), atof(argv[5]));
    if (!strcmp(argv[2], "garbage") && argc == 5)
        return garbage(atol(argv[3]), strtoull(argv[4], NULL, 10));
    fprintf(stderr, "bad arguments\n");
    return 2;
}
