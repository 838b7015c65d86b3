/* bench/process.py's launcher: runs one program the way qmail-rspawn does (cwd, the message on stdin, stderr joined to
 * stdout) and reports what wait4(2) says that one process cost. A small C parent, so the child's figures are its own:
 * a child forked from Python would count Python's pages in its page faults and peak RSS before it even execs.
 * Usage: spawn CWD MESSAGE PROGRAM [ARG...]; the environment is passed as given. Prints on stderr:
 * "cpu_us faults maxrss_kb wall_us status". */
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 4) { fputs("usage: spawn CWD MESSAGE PROGRAM [ARG...]\n", stderr); return 2; }
  int message = open(argv[2], O_RDONLY);
  if (message < 0) { perror(argv[2]); return 2; }
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  pid_t pid = fork();
  if (pid < 0) { perror("fork"); return 2; }
  if (pid == 0) {
    if (chdir(argv[1]) != 0 || dup2(message, 0) < 0 || dup2(1, 2) < 0) _exit(127);
    close(message);
    execv(argv[3], argv + 3);
    _exit(127);
  }
  int status;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) < 0) { perror("wait4"); return 2; }
  clock_gettime(CLOCK_MONOTONIC, &end);
  long cpu = ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec;
  long wall = (end.tv_sec - start.tv_sec) * 1000000L + (end.tv_nsec - start.tv_nsec) / 1000;
  fprintf(stderr, "%ld %ld %ld %ld %d\n", cpu, ru.ru_minflt + ru.ru_majflt, ru.ru_maxrss, wall, status);
  return 0;
}
