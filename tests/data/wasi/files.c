// File system inside a preopen "/sandbox": write/read/seek/pread/pwrite/stat/readdir/rename/
// unlink/mkdir/rmdir/symlink/readlink/utimes, and escape attempts that must fail.
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

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

static void listdir(const char *path) {
    DIR *d = opendir(path);
    if (!d) { printf("opendir %s: errno=%d\n", path, errno); return; }
    char *names[64]; int n = 0; struct dirent *e;
    while ((e = readdir(d)) && n < 64) {
        char *s = malloc(strlen(e->d_name) + 8);
        sprintf(s, "%s:%d", e->d_name, e->d_type);
        names[n++] = s;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    printf("ls %s:", path);
    for (int i = 0; i < n; i++) { printf(" %s", names[i]); free(names[i]); }
    printf("\n");
}

static void try_open(const char *path, int flags) {
    errno = 0;
    int fd = open(path, flags, 0644);
    printf("open(%s) -> %s errno=%d\n", path, fd >= 0 ? "OK" : "FAIL", fd >= 0 ? 0 : errno);
    if (fd >= 0) {
        char buf[64] = {0};
        int r = read(fd, buf, sizeof buf - 1);
        printf("  read %d: %s\n", r, buf);
        close(fd);
    }
}

static void raw_open(const char *path, int follow) {
    __wasi_fd_t fd;
    __wasi_errno_t err = __wasi_path_open(3, follow ? __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW : 0, path, 0,
                                          __WASI_RIGHTS_FD_READ, 0, 0, &fd);
    printf("raw path_open(%s, follow=%d) -> errno=%d\n", path, follow, err);
    if (err == 0) __wasi_fd_close(fd);
}

int main(void) {
    // write, seek, read
    FILE *f = fopen("/sandbox/a.txt", "w");
    fprintf(f, "hello file\nsecond line\n");
    fclose(f);
    int fd = open("/sandbox/a.txt", O_RDWR);
    char buf[128];
    int n = read(fd, buf, 5); buf[n] = 0;
    printf("read %d '%s'\n", n, buf);
    printf("lseek cur=%lld\n", (long long)lseek(fd, 0, SEEK_CUR));
    printf("lseek set 6=%lld\n", (long long)lseek(fd, 6, SEEK_SET));
    n = read(fd, buf, 4); buf[n] = 0;
    printf("read %d '%s'\n", n, buf);
    printf("lseek end=%lld\n", (long long)lseek(fd, 0, SEEK_END));
    printf("lseek -1 set=%lld errno=%d\n", (long long)lseek(fd, -1, SEEK_SET), errno);
    n = pwrite(fd, "HELLO", 5, 0);
    printf("pwrite %d\n", n);
    n = pread(fd, buf, 10, 0); buf[n] = 0;
    printf("pread %d '%s'\n", n, buf);
    struct stat st;
    fstat(fd, &st);
    printf("fstat size=%lld reg=%d\n", (long long)st.st_size, S_ISREG(st.st_mode));
    printf("ftruncate=%d\n", ftruncate(fd, 4));
    fstat(fd, &st);
    printf("fstat size=%lld\n", (long long)st.st_size);
    close(fd);
    printf("read closed fd=%d errno=%d\n", (int)read(fd, buf, 1), errno);

    // append
    fd = open("/sandbox/a.txt", O_WRONLY | O_APPEND);
    write(fd, "+app", 4);
    close(fd);
    f = fopen("/sandbox/a.txt", "r");
    n = fread(buf, 1, sizeof buf - 1, f); buf[n] = 0;
    fclose(f);
    printf("after append '%s'\n", buf);

    // O_EXCL, O_TRUNC, missing file, read-only write
    try_open("/sandbox/a.txt", O_CREAT | O_EXCL | O_WRONLY);
    try_open("/sandbox/missing.txt", O_RDONLY);
    fd = open("/sandbox/a.txt", O_RDONLY);
    printf("write to rdonly=%d errno=%d\n", (int)write(fd, "x", 1), errno);
    close(fd);
    fd = open("/sandbox/a.txt", O_WRONLY | O_TRUNC);
    fstat(fd, &st);
    printf("trunc size=%lld\n", (long long)st.st_size);
    close(fd);

    // directories
    printf("mkdir=%d\n", mkdir("/sandbox/sub", 0755));
    printf("mkdir again=%d errno=%d\n", mkdir("/sandbox/sub", 0755), errno);
    f = fopen("/sandbox/sub/b.txt", "w"); fputs("bee", f); fclose(f);
    f = fopen("/sandbox/sub/c.txt", "w"); fputs("sea", f); fclose(f);
    listdir("/sandbox/sub");
    printf("rename=%d\n", rename("/sandbox/sub/c.txt", "/sandbox/sub/d.txt"));
    listdir("/sandbox/sub");
    printf("rmdir nonempty=%d errno=%d\n", rmdir("/sandbox/sub"), errno);
    printf("unlink dir=%d errno=%d\n", unlink("/sandbox/sub"), errno);
    printf("stat dir=%d isdir=%d\n", stat("/sandbox/sub", &st), S_ISDIR(st.st_mode));
    printf("open dir for write=%d errno=%d\n", open("/sandbox/sub", O_WRONLY), errno);
    printf("open file as dir=%d errno=%d\n", open("/sandbox/a.txt", O_RDONLY | O_DIRECTORY), errno);
    printf("unlink=%d\n", unlink("/sandbox/sub/b.txt"));
    printf("unlink=%d\n", unlink("/sandbox/sub/d.txt"));
    printf("unlink missing=%d errno=%d\n", unlink("/sandbox/sub/d.txt"), errno);
    printf("rmdir=%d\n", rmdir("/sandbox/sub"));

    // symlinks inside the sandbox
    printf("symlink=%d\n", symlink("a.txt", "/sandbox/link"));
    n = readlink("/sandbox/link", buf, sizeof buf); buf[n > 0 ? n : 0] = 0;
    printf("readlink %d '%s'\n", n, buf);
    try_open("/sandbox/link", O_RDONLY);
    printf("lstat islnk=%d\n", lstat("/sandbox/link", &st) == 0 && S_ISLNK(st.st_mode));
    printf("unlink link=%d\n", unlink("/sandbox/link"));

    // times
    struct timespec times[2] = {{1000000000, 5}, {1100000000, 7}};
    printf("utimensat=%d\n", utimensat(AT_FDCWD, "/sandbox/a.txt", times, 0));
    stat("/sandbox/a.txt", &st);
    printf("atime=%lld.%ld mtime=%lld.%ld\n", (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
           (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    listdir("/sandbox");

    // escapes: relative .., absolute, symlinks prepared by the host pointing outside
    try_open("/sandbox/../outside.txt", O_RDONLY);
    try_open("../outside.txt", O_RDONLY);
    try_open("/etc/passwd", O_RDONLY);
    try_open("/sandbox/abs_out", O_RDONLY);
    try_open("/sandbox/rel_out", O_RDONLY);
    try_open("/sandbox/dir_out/outside.txt", O_RDONLY);
    printf("mkdir escape=%d errno=%d\n", mkdir("/sandbox/dir_out/newdir", 0755), errno);
    printf("stat escape=%d errno=%d\n", stat("/sandbox/rel_out", &st), errno);
    raw_open("../outside.txt", 0);
    raw_open("/etc/passwd", 0);
    raw_open("abs_out", 1);
    raw_open("rel_out", 1);
    raw_open("dir_out/outside.txt", 1);
    raw_open("sub2/../../outside.txt", 1);
    raw_open("inner_link", 1);
    return 0;
}
