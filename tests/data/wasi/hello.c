// hello + args + env + stdin + stderr + exit code (run by tests/test_wasi.py).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern char **environ;

int main(int argc, char **argv) {
    printf("hello from wasm\n");
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
    int n = 0;
    for (char **e = environ; *e; e++) printf("env[%d]=%s\n", n++, *e);
    const char *g = getenv("GREETING");
    printf("GREETING=%s\n", g ? g : "(null)");
    printf("HOME=%s\n", getenv("HOME") ? getenv("HOME") : "(null)");
    char buf[256];
    size_t total = 0, r;
    while ((r = fread(buf, 1, sizeof buf, stdin)) > 0) {
        fwrite(buf, 1, r, stdout);
        total += r;
    }
    printf("stdin bytes=%zu\n", total);
    struct timespec ts;
    printf("clock_gettime realtime ok=%d\n", clock_gettime(CLOCK_REALTIME, &ts) == 0 && ts.tv_sec > 1600000000);
    printf("clock_gettime monotonic ok=%d\n", clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
    fprintf(stderr, "to stderr\n");
    fflush(stdout);
    if (argc > 1 && strcmp(argv[1], "exit3") == 0) {
        printf("exiting with 3\n");
        exit(3);
    }
    printf("bye\n");
    return 0;
}
