/* bench/rtt.sh's delay line in C: the same job as bench/wire.py without a log, at a fraction of its CPU.
 *
 *     wire NS_A TUN_A NS_B TUN_B ONE_WAY_MS
 *
 * Opens the TUN device of each network namespace (setns(2), then TUNSETIFF), reads every IP packet either kernel
 * sends into its TUN and writes it into the other TUN ONE_WAY_MS later, in order, packets in flight overlapping.
 * Prints "ready" once both devices are open; stops on SIGTERM or SIGINT, saying on stderr how many packets it
 * carried and dropped. Why a second one: on this 2-core machine the Python delay line's own CPU (a select(2), a
 * read and a write per packet, in the interpreter) competed with the processes measured during the 200-delivery
 * runs; a real network costs the host nothing, so the benchmark should not either. wire.py stays for the runs
 * that log every packet (bench/flights.py reads its summaries), where one delivery is measured and CPU is idle. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 8192  /* packets in flight per direction: 100 deliveries/s x ~30 packets x 20 ms is about 60 */
#define SLOT_BYTES 65536

struct packet { long long due_ns; int len; unsigned char *data; };
struct line { int in, out; struct packet slot[SLOTS]; unsigned head, tail; unsigned long long carried, dropped; };

static volatile sig_atomic_t running = 1;
static void stop(int sig) { (void)sig; running = 0; }

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int open_tun(const char *ns, const char *name) {
  char path[256];
  snprintf(path, sizeof path, "/run/netns/%s", ns);
  int nsfd = open(path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) { perror(path); exit(1); }
  close(nsfd);
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) { perror("/dev/net/tun"); exit(1); }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) { perror("TUNSETIFF"); exit(1); }
  return fd;
}

/* Everything waiting to be read from the line's input device, queued for its output device. */
static void take(struct line *l, long long delay_ns) {
  for (;;) {
    struct packet *p = &l->slot[l->tail % SLOTS];
    if (l->tail - l->head == SLOTS) {  /* full: read into a scratch buffer and lose it, as a congested link would */
      static unsigned char scratch[SLOT_BYTES];
      if (read(l->in, scratch, sizeof scratch) < 0) return;
      l->dropped++;
      continue;
    }
    if (!p->data && !(p->data = malloc(SLOT_BYTES))) { perror("malloc"); exit(1); }
    ssize_t n = read(l->in, p->data, SLOT_BYTES);
    if (n < 0) return;  /* EAGAIN: drained (or the device went down) */
    p->len = (int)n;
    p->due_ns = now_ns() + delay_ns;
    l->tail++;
  }
}

/* Writes every packet whose time has come; returns the due time of the next one, or -1. */
static long long give(struct line *l, long long now) {
  while (l->head != l->tail) {
    struct packet *p = &l->slot[l->head % SLOTS];
    if (p->due_ns > now) return p->due_ns;
    if (write(l->out, p->data, (size_t)p->len) == p->len) l->carried++; else l->dropped++;
    l->head++;
  }
  return -1;
}

int main(int argc, char **argv) {
  if (argc != 6) { fputs("usage: wire NS_A TUN_A NS_B TUN_B ONE_WAY_MS\n", stderr); return 2; }
  long long delay_ns = (long long)(atof(argv[5]) * 1e6);
  int a = open_tun(argv[1], argv[2]), b = open_tun(argv[3], argv[4]);
  static struct line ab, ba;
  ab.in = a; ab.out = b; ba.in = b; ba.out = a;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  printf("ready\n");
  fflush(stdout);
  while (running) {
    long long now = now_ns();
    long long next_ab = give(&ab, now), next_ba = give(&ba, now), next = -1;
    if (next_ab >= 0) next = next_ab;
    if (next_ba >= 0 && (next < 0 || next_ba < next)) next = next_ba;
    struct timespec timeout = { 0, 500000000 }, *wait = &timeout;
    if (next >= 0) {
      long long left = next - now_ns();
      if (left < 0) left = 0;
      timeout.tv_sec = left / 1000000000LL;
      timeout.tv_nsec = left % 1000000000LL;
    }
    struct pollfd fds[2] = { { a, POLLIN, 0 }, { b, POLLIN, 0 } };
    int ready = ppoll(fds, 2, wait, NULL);
    if (ready < 0) { if (errno == EINTR) continue; perror("ppoll"); return 1; }
    if (fds[0].revents & POLLIN) take(&ab, delay_ns);
    if (fds[1].revents & POLLIN) take(&ba, delay_ns);
  }
  fprintf(stderr, "wire: carried %llu and %llu packets, dropped %llu and %llu\n", ab.carried, ba.carried, ab.dropped,
          ba.dropped);
  return 0;
}
