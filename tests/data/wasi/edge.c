// Edge cases compared with wasmtime: many directory entries (readdir cookies), sleeping
// (poll_oneoff), fd_renumber, links, fsync/fallocate/advise, errors on stdio and directories.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wasi/api.h>

int main(void) {
    char name[64], buf[256];
    // 120 files with long names: fd_readdir must be called several times with cookies
    mkdir("/sandbox/many", 0755);
    for (int i = 0; i < 120; i++) {
        snprintf(name, sizeof name, "/sandbox/many/file_with_a_rather_long_name_%03d", i);
        int fd = open(name, O_CREAT | O_WRONLY, 0644);
        write(fd, name, i % 7);
        close(fd);
    }
    DIR *d = opendir("/sandbox/many");
    int count = 0, sum = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        count++;
        if (e->d_name[0] == 'f') sum += atoi(e->d_name + strlen(e->d_name) - 3);
    }
    closedir(d);
    printf("readdir count=%d sum=%d\n", count, sum);
    struct stat st;
    stat("/sandbox/many/file_with_a_rather_long_name_013", &st);
    printf("size of 013=%lld\n", (long long)st.st_size);

    // sleeping
    struct timespec t0, t1, req = {0, 20 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    printf("nanosleep=%d\n", nanosleep(&req, NULL));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long ms = (t1.tv_sec - t0.tv_sec) * 1000LL + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    printf("slept>=20ms: %d\n", ms >= 19);
    struct timespec res;
    printf("clock_getres=%d positive=%d\n", clock_getres(CLOCK_MONOTONIC, &res), res.tv_sec > 0 || res.tv_nsec > 0);
    clock_t c = clock();
    printf("clock ok=%d\n", c >= 0);

    // stdio errors
    printf("lseek stdout=%lld errno=%d\n", (long long)lseek(1, 0, SEEK_CUR), errno);
    errno = 0;
    printf("pread stdin=%d errno=%d\n", (int)pread(0, buf, 1, 0), errno);
    printf("read bad fd=%d errno=%d\n", (int)read(77, buf, 1), errno);
    printf("close bad fd=%d errno=%d\n", close(77), errno);

    // directory fd operations
    int dfd = open("/sandbox/many", O_RDONLY | O_DIRECTORY);
    printf("open dir=%d\n", dfd >= 0);
    fstat(dfd, &st);
    printf("fstat dir isdir=%d\n", S_ISDIR(st.st_mode));
    errno = 0;
    printf("read dir=%d errno=%d\n", (int)read(dfd, buf, 1), errno);
    errno = 0;
    printf("write dir=%d errno=%d\n", (int)write(dfd, buf, 1), errno);
    int ffd = openat(dfd, "file_with_a_rather_long_name_006", O_RDONLY);
    printf("openat=%d read=%d\n", ffd >= 0, (int)read(ffd, buf, 100));
    close(ffd);
    close(dfd);

    // renumber, links, sync, allocate, advise, truncate through a read-only fd
    int a = open("/sandbox/x.txt", O_CREAT | O_RDWR, 0644);
    write(a, "xyz", 3);
    int b = open("/sandbox/y.txt", O_CREAT | O_RDWR, 0644);
    printf("renumber=%d\n", __wasi_fd_renumber(a, b));
    lseek(b, 0, SEEK_SET);
    int n = read(b, buf, 10);
    printf("after renumber read=%d '%.*s'\n", n, n, buf);
    printf("old fd read=%d errno=%d\n", (int)read(a, buf, 1), errno);
    printf("renumber bad=%d\n", __wasi_fd_renumber(a, b));
    printf("fsync=%d fdatasync=%d\n", fsync(b), fdatasync(b));
    printf("fadvise=%d\n", posix_fadvise(b, 0, 3, POSIX_FADV_SEQUENTIAL));
    close(b);
    printf("link=%d\n", link("/sandbox/x.txt", "/sandbox/x2.txt"));
    stat("/sandbox/x2.txt", &st);
    printf("nlink=%d size=%lld\n", (int)st.st_nlink, (long long)st.st_size);
    printf("link exists=%d errno=%d\n", link("/sandbox/x.txt", "/sandbox/x2.txt"), errno);
    int r = open("/sandbox/x.txt", O_RDONLY);
    errno = 0;
    printf("ftruncate rdonly=%d errno=%d\n", ftruncate(r, 0), errno);
    close(r);
    printf("rename over=%d\n", rename("/sandbox/x2.txt", "/sandbox/y.txt"));
    printf("rename missing=%d errno=%d\n", rename("/sandbox/nope", "/sandbox/y.txt"), errno);
    printf("rmdir file=%d errno=%d\n", rmdir("/sandbox/y.txt"), errno);
    printf("mkdir in missing=%d errno=%d\n", mkdir("/sandbox/nope/x", 0755), errno);
    printf("open trailing slash file=%d errno=%d\n", open("/sandbox/x.txt/", O_RDONLY), errno);
    printf("stat empty=%d errno=%d\n", stat("", &st), errno);
    printf("access=%d\n", access("/sandbox/x.txt", R_OK));
    // a dangling symlink and a symlink loop
    symlink("nowhere", "/sandbox/dangling");
    printf("open dangling=%d errno=%d\n", open("/sandbox/dangling", O_RDONLY), errno);
    symlink("loop2", "/sandbox/loop1");
    symlink("loop1", "/sandbox/loop2");
    printf("open loop=%d errno=%d\n", open("/sandbox/loop1", O_RDONLY), errno);
    // create through a dangling symlink that stays inside
    symlink("created.txt", "/sandbox/mk");
    int m = open("/sandbox/mk", O_CREAT | O_WRONLY, 0644);
    printf("create via link=%d\n", m >= 0);
    close(m);
    printf("created exists=%d\n", access("/sandbox/created.txt", F_OK) == 0);
    printf("symlink abs=%d errno=%d\n", symlink("/etc/passwd", "/sandbox/abs"), errno);
    // a directory fd is a capability of its own: ".." cannot climb above it
    int sub = open("/sandbox/many", O_RDONLY | O_DIRECTORY);
    errno = 0;
    printf("openat .. from subdir=%d errno=%d\n", openat(sub, "../x.txt", O_RDONLY) >= 0, errno);
    errno = 0;
    printf("openat ./. from subdir=%d\n", openat(sub, "./file_with_a_rather_long_name_001", O_RDONLY) >= 0);
    close(sub);
    return 0;
}
