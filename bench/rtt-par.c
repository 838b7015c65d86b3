/* bench/rtt.sh's driver for the parallel runs, in C, as qmail-rspawn is: N deliveries, PAR at a time, each a child
 * with the message on stdin and stdout and stderr joined into one pipe (qmail-rspawn's way), its report checked.
 *
 *     rtt-par N PAR MESSAGE PROGRAM [ARG...]
 *
 * Prints one line: "elapsed_s rate median_ms p90_ms max_ms children_cpu_ms_per_delivery self_cpu_ms_per_delivery".
 * Exits 1, printing the report, when one is not exactly one accepted recipient and K (what rtt-drive.py checks), or a
 * child did not exit 0. Why C: the Python driver ran each delivery from a thread of its own through subprocess, and
 * its fork, pipes and GIL were part of every delivery's measured time; qmail-rspawn is a small C program. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXPAR 256
#define REPORT_MAX 8192

struct child { pid_t pid; int out; double start; size_t len; unsigned char report[REPORT_MAX]; };

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* r\0K<address> accepted message.\nRemote host said: 250[ -]<anything but NUL>\0, and nothing after. */
static int accepted(const unsigned char *r, size_t n) {
  if (n < 4 || memcmp(r, "r\0K", 3) != 0 || r[n - 1] != 0) return 0;
  size_t i = 3;
  while (i < n && (strchr("0123456789abcdefABCDEF.:", r[i]) && r[i])) i++;
  if (i == 3) return 0;
  static const char tail[] = " accepted message.\nRemote host said: 250";
  size_t t = sizeof tail - 1;
  if (n - i < t + 2 || memcmp(r + i, tail, t) != 0) return 0;
  i += t;
  if (r[i] != ' ' && r[i] != '-') return 0;
  return memchr(r + i, 0, n - i) == r + n - 1;
}

static void start(struct child *c, const char *message, char **argv) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) { perror("pipe2"); exit(2); }
  c->start = now();
  c->len = 0;
  c->pid = fork();
  if (c->pid < 0) { perror("fork"); exit(2); }
  if (c->pid == 0) {
    int in = open(message, O_RDONLY);
    if (in < 0 || dup2(in, 0) < 0 || dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0) _exit(111);
    execv(argv[0], argv);
    _exit(111);
  }
  close(p[1]);
  c->out = p[0];
}

int main(int argc, char **argv) {
  if (argc < 5) { fputs("usage: rtt-par N PAR MESSAGE PROGRAM [ARG...]\n", stderr); return 2; }
  int n = atoi(argv[1]), par = atoi(argv[2]);
  const char *message = argv[3];
  char **program = argv + 4;
  if (n < 1 || par < 1 || par > MAXPAR) { fputs("rtt-par: N >= 1, 1 <= PAR <= 256\n", stderr); return 2; }
  static struct child kids[MAXPAR];
  double *times = calloc((size_t)n, sizeof *times);
  int started = 0, done = 0, active = 0;
  double t0 = now();
  for (; active < par && started < n; active++, started++) start(&kids[active], message, program);
  while (done < n) {
    struct pollfd fds[MAXPAR];
    for (int i = 0; i < active; i++) fds[i] = (struct pollfd){ kids[i].out, POLLIN, 0 };
    if (poll(fds, (nfds_t)active, -1) < 0) { perror("poll"); return 2; }
    for (int i = 0; i < active; i++) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      struct child *c = &kids[i];
      ssize_t got = read(c->out, c->report + c->len, REPORT_MAX - c->len);
      if (got > 0) { c->len += (size_t)got; if (c->len < REPORT_MAX) continue; }
      /* EOF (or a report too long to be one): the child is done with its output; reap it. */
      close(c->out);
      int status;
      if (waitpid(c->pid, &status, 0) < 0) { perror("waitpid"); return 2; }
      times[done++] = (now() - c->start) * 1000;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !accepted(c->report, c->len)) {
        fprintf(stderr, "FAILED: %s status %d, report ", program[0], status);
        for (size_t k = 0; k < c->len; k++) fputc(c->report[k] ? c->report[k] : '|', stderr);
        fputc('\n', stderr);
        return 1;
      }
      if (started < n) { start(c, message, program); started++; }
      else { kids[i] = kids[--active]; fds[i] = fds[active]; i--; }
    }
  }
  double elapsed = now() - t0;
  struct rusage self, kidsu;
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &kidsu);
  double kcpu = (kidsu.ru_utime.tv_sec + kidsu.ru_stime.tv_sec) * 1e3 + (kidsu.ru_utime.tv_usec + kidsu.ru_stime.tv_usec) / 1e3;
  double scpu = (self.ru_utime.tv_sec + self.ru_stime.tv_sec) * 1e3 + (self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e3;
  qsort(times, (size_t)n, sizeof *times, cmp);
  printf("%.3f %.1f %.1f %.1f %.1f %.2f %.2f\n", elapsed, n / elapsed, times[n / 2], times[n * 9 / 10], times[n - 1],
         kcpu / n, scpu / n);
  return 0;
}
