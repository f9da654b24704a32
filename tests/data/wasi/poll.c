// poll_oneoff through wasi-libc: poll() on stdin and a file, a timeout, clock_nanosleep(ABSTIME).
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    int f = open("/sandbox/p.txt", O_CREAT | O_RDWR, 0644);
    write(f, "12345", 5);
    lseek(f, 1, SEEK_SET);
    struct pollfd p[2] = {{0, POLLIN, 0}, {f, POLLIN, 0}};
    int n = poll(p, 2, 1000);
    printf("poll=%d stdin revents=%d file revents=%d\n", n, p[0].revents, p[1].revents);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    n = poll(NULL, 0, 15);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long ms = (t1.tv_sec - t0.tv_sec) * 1000LL + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    printf("poll timeout=%d waited>=14ms: %d\n", n, ms >= 14);
    struct timespec until = t1;
    until.tv_nsec += 10 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000) { until.tv_sec++; until.tv_nsec -= 1000000000; }
    printf("clock_nanosleep abs=%d\n", clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    printf("reached=%d\n", t0.tv_sec > until.tv_sec || (t0.tv_sec == until.tv_sec && t0.tv_nsec >= until.tv_nsec));
    printf("sched_yield=%d\n", sched_yield());
    return 0;
}
