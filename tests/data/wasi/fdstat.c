// fd_fdstat_get rights/filetypes and fcntl(F_GETFL) for stdio, preopens, files and directories.
#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>
#include <wasi/api.h>
int main(void) {
    for (int fd = 0; fd < 5; fd++) {
        __wasi_fdstat_t st;
        int e = __wasi_fd_fdstat_get(fd, &st);
        printf("fd%d e=%d ft=%d flags=%d base=%llx inh=%llx\n", fd, e, st.fs_filetype, st.fs_flags, (unsigned long long)st.fs_rights_base, (unsigned long long)st.fs_rights_inheriting);
    }
    int f = open("/sandbox/q", O_CREAT|O_RDWR|O_APPEND, 0644);
    __wasi_fdstat_t st; __wasi_fd_fdstat_get(f, &st);
    printf("file ft=%d flags=%d base=%llx inh=%llx getfl=%x\n", st.fs_filetype, st.fs_flags, (unsigned long long)st.fs_rights_base, (unsigned long long)st.fs_rights_inheriting, fcntl(f, F_GETFL));
    int r = open("/sandbox/q", O_RDONLY);
    __wasi_fd_fdstat_get(r, &st);
    printf("rdonly base=%llx getfl=%x\n", (unsigned long long)st.fs_rights_base, fcntl(r, F_GETFL));
    int d = open("/sandbox", O_RDONLY|O_DIRECTORY);
    __wasi_fd_fdstat_get(d, &st);
    printf("dir base=%llx inh=%llx getfl=%x\n", (unsigned long long)st.fs_rights_base, (unsigned long long)st.fs_rights_inheriting, fcntl(d, F_GETFL));
    printf("isatty(1)=%d\n", isatty(1));
    return 0;
}
