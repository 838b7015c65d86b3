// First-touch tracer for bench/layout.sh: which functions of an executable one run calls, in the order it first calls
// them. Usage: first-touch OUT ADDRESSES -- PROGRAM ARGS... (stdin, stdout, stderr and the environment are passed on).
// ADDRESSES holds one hexadecimal function address a line (a non-PIE binary's, from nm). The tracer starts PROGRAM under
// ptrace, writes int3 over the first byte of each of those functions (through /proc/PID/mem, so the text pages become
// private copies for this one process), and on each trap records the address, puts the byte back and lets the thread
// run on: every function traps once, on its first call by any thread. OUT gets the addresses hit, in order, one a line.
// Signals meant for the program (the runtime's own) are passed through; every thread is followed (PTRACE_O_TRACECLONE).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct { uint64_t address; unsigned char original; int hit; } breakpoint;

static breakpoint *points;
static size_t count;

static int by_address(const void *a, const void *b) {
  uint64_t x = ((const breakpoint *)a)->address, y = ((const breakpoint *)b)->address;
  return x < y ? -1 : x > y;
}

static breakpoint *find(uint64_t address) {
  breakpoint key = {address, 0, 0};
  return bsearch(&key, points, count, sizeof key, by_address);
}

int main(int argc, char **argv) {
  if (argc < 5 || strcmp(argv[3], "--") != 0) {
    fprintf(stderr, "usage: first-touch OUT ADDRESSES -- PROGRAM ARGS...\n");
    return 2;
  }
  FILE *in = fopen(argv[2], "r");
  if (!in) { perror(argv[2]); return 2; }
  size_t capacity = 1 << 16;
  points = malloc(capacity * sizeof *points);
  unsigned long long a;
  while (fscanf(in, "%llx", &a) == 1) {
    if (count == capacity) points = realloc(points, (capacity *= 2) * sizeof *points);
    points[count++] = (breakpoint){a, 0, 0};
  }
  fclose(in);
  qsort(points, count, sizeof *points, by_address);
  size_t unique = 0;  // folded bodies share an address: one breakpoint each
  for (size_t i = 0; i < count; i++)
    if (unique == 0 || points[unique - 1].address != points[i].address) points[unique++] = points[i];
  count = unique;

  pid_t child = fork();
  if (child == 0) {
    ptrace(PTRACE_TRACEME, 0, 0, 0);
    execv(argv[4], argv + 4);
    perror(argv[4]);
    _exit(127);
  }
  int status;
  if (waitpid(child, &status, 0) < 0 || !WIFSTOPPED(status)) { fprintf(stderr, "first-touch: no exec stop\n"); return 2; }
  ptrace(PTRACE_SETOPTIONS, child, 0, PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL);

  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", child);
  int mem = open(path, O_RDWR);
  if (mem < 0) { perror(path); return 2; }
  // One read and one write of the whole span of the functions, not one system call per function.
  uint64_t low = points[0].address, high = points[count - 1].address + 1;
  unsigned char *text = malloc(high - low);
  if (pread(mem, text, high - low, (off_t)low) != (ssize_t)(high - low)) { perror("pread"); return 2; }
  for (size_t i = 0; i < count; i++) {
    points[i].original = text[points[i].address - low];
    text[points[i].address - low] = 0xCC;
  }
  if (pwrite(mem, text, high - low, (off_t)low) != (ssize_t)(high - low)) { perror("pwrite"); return 2; }
  free(text);

  FILE *out = fopen(argv[1], "w");
  if (!out) { perror(argv[1]); return 2; }
  int exit_code = 0;
  ptrace(PTRACE_CONT, child, 0, 0);
  for (;;) {
    pid_t tid = waitpid(-1, &status, __WALL);
    if (tid < 0) { if (errno == EINTR) continue; break; }  // ECHILD: every thread is gone
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      if (tid == child) exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      continue;
    }
    if (!WIFSTOPPED(status)) continue;
    int sig = WSTOPSIG(status), deliver = 0;
    if (sig == SIGTRAP && (status >> 16) != 0) {
      deliver = 0;  // a clone event: the new thread is followed and starts with a SIGSTOP of its own
    } else if (sig == SIGTRAP) {
      struct user_regs_struct regs;
      ptrace(PTRACE_GETREGS, tid, 0, &regs);
      breakpoint *b = find(regs.rip - 1);
      if (b) {
        if (!b->hit) {
          b->hit = 1;
          fprintf(out, "%llx\n", (unsigned long long)b->address);
          pwrite(mem, &b->original, 1, (off_t)b->address);
        }
        regs.rip = b->address;  // another thread that trapped before the byte was back lands here too
        ptrace(PTRACE_SETREGS, tid, 0, &regs);
      } else {
        deliver = SIGTRAP;
      }
    } else if (sig == SIGSTOP) {
      deliver = 0;  // a new thread's first stop
    } else {
      deliver = sig;
    }
    ptrace(PTRACE_CONT, tid, 0, deliver);
  }
  fclose(out);
  return exit_code;
}
