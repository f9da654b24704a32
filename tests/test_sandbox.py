"""WASI confinement through the CLI: `..`, absolute paths and symlinks (relative and absolute,
to files and directories, dangling ones used for creation) never reach outside the preopened
directories, and the guest sees no host environment variable unless `--env` passes it.

The guest is a small C program (compiled with zig at test time) that opens/creates/lists/stats
the paths it is given and prints what happened.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ESCAPE_C = r"""
/* sandbox probe: env | open PATH... | create PATH... | list DIR | stat PATH... */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
extern char **environ;
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "env")) {
        int n = 0;
        for (char **e = environ; e && *e; e++, n++) printf("ENV %s\n", *e);
        printf("ENVCOUNT %d\n", n);
        return 0;
    }
    for (int i = 2; i < argc; i++) {
        const char *p = argv[i];
        if (!strcmp(cmd, "open")) {
            int fd = open(p, O_RDONLY);
            if (fd < 0) { printf("%s: errno %d\n", p, errno); continue; }
            char buf[128] = {0};
            int n = (int)read(fd, buf, sizeof buf - 1);
            printf("%s: read %d [%s]\n", p, n, n > 0 ? buf : "");
            close(fd);
        } else if (!strcmp(cmd, "create")) {
            int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
            if (fd < 0) { printf("%s: errno %d\n", p, errno); continue; }
            write(fd, "pwned", 5);
            close(fd);
            printf("%s: created\n", p);
        } else if (!strcmp(cmd, "list")) {
            DIR *d = opendir(p);
            if (!d) { printf("%s: errno %d\n", p, errno); continue; }
            struct dirent *de;
            int n = 0;
            while ((de = readdir(d))) n++;
            closedir(d);
            printf("%s: %d entries\n", p, n);
        } else if (!strcmp(cmd, "stat")) {
            struct stat st;
            if (stat(p, &st)) printf("%s: errno %d\n", p, errno);
            else printf("%s: size %lld\n", p, (long long)st.st_size);
        } else if (!strcmp(cmd, "mkdir")) {
            if (mkdir(p, 0755)) printf("%s: errno %d\n", p, errno);
            else printf("%s: made\n", p);
        } else if (!strcmp(cmd, "symlink")) {   /* symlink argv[i] -> argv[i+1] */
            if (i + 1 >= argc) return 2;
            if (symlink(argv[i + 1], p)) printf("%s: errno %d\n", p, errno);
            else printf("%s: linked\n", p);
            i++;
        }
    }
    return 0;
}
"""

SECRET = "TOPSECRET-CONTENT"


@pytest.fixture(scope="module")
def prog(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("sandbox_prog")
    (d / "escape.c").write_text(ESCAPE_C)
    out = d / "escape.wasm"
    r = subprocess.run([sys.executable, "-m", "ziglang", "cc", "--target=wasm32-wasi", "-O2", "-s",
                        str(d / "escape.c"), "-o", str(out)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"zig cannot build the WASI probe: {r.stderr[-500:]}")
    return out


@pytest.fixture
def tree(tmp_path) -> dict:
    """tmp/outside/secret.txt, tmp/outside/dir/, tmp/box/ (the preopen) with links out."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    (outside / "dir").mkdir()
    (outside / "dir" / "deep.txt").write_text(SECRET)
    box = tmp_path / "box"
    box.mkdir()
    (box / "inside.txt").write_text("hello inside")
    (box / "sub").mkdir()
    (box / "sub" / "ok.txt").write_text("ok")
    os.symlink("../outside/secret.txt", box / "rel_link")           # relative, file
    os.symlink(str(outside / "secret.txt"), box / "abs_link")       # absolute, file
    os.symlink(str(outside), box / "abs_dirlink")                  # absolute, directory
    os.symlink("../outside", box / "rel_dirlink")                   # relative, directory
    os.symlink("../../outside/secret.txt", box / "sub" / "deep_link")
    os.symlink(str(outside / "created_via_link.txt"), box / "dangling_out")
    os.symlink("inside.txt", box / "good_link")                     # stays inside: allowed
    return {"tmp": tmp_path, "outside": outside, "box": box}


def run(prog, *args, env=None, extra=()):
    cmd = [sys.executable, "-m", "wizardpy", "run", *extra, str(prog), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env=env if env is not None else os.environ.copy())


def lines_of(p) -> dict[str, str]:
    out = {}
    for ln in p.stdout.splitlines():
        k, _, v = ln.partition(": ")
        out[k] = v
    return out


ESCAPES = ["/box/../outside/secret.txt", "/box/sub/../../outside/secret.txt",
           "/box/../../../../../../etc/passwd", "/box/rel_link", "/box/abs_link",
           "/box/abs_dirlink/secret.txt", "/box/rel_dirlink/secret.txt",
           "/box/sub/deep_link", "/box/abs_dirlink/dir/deep.txt", "/outside/secret.txt",
           "/etc/passwd", "/box/./../outside/secret.txt", "/box//..//outside/secret.txt"]


def test_reads_cannot_escape(prog, tree):
    p = run(prog, "open", "/box/inside.txt", "/box/good_link", "/box/sub/ok.txt", *ESCAPES,
            extra=["--dir", f"{tree['box']}::/box"])
    assert p.returncode == 0, p.stderr
    got = lines_of(p)
    assert got["/box/inside.txt"].startswith("read 12 [hello inside]")
    assert got["/box/good_link"].startswith("read 12")
    assert got["/box/sub/ok.txt"].startswith("read 2")
    for path in ESCAPES:
        assert got[path].startswith("errno"), (path, got[path])
    assert SECRET not in p.stdout and "root:" not in p.stdout


def test_relative_preopen_name_and_dotdot(prog, tree):
    """A preopen mapped to `.`: `..` from there is refused too."""
    p = run(prog, "open", "inside.txt", "../outside/secret.txt", "sub/../../outside/secret.txt",
            "rel_link", extra=["--dir", f"{tree['box']}::."])
    got = lines_of(p)
    assert got["inside.txt"].startswith("read 12")
    for k in ("../outside/secret.txt", "sub/../../outside/secret.txt", "rel_link"):
        assert got[k].startswith("errno"), (k, got[k])
    assert SECRET not in p.stdout


def test_writes_cannot_escape(prog, tree):
    targets = ["/box/../outside/new.txt", "/box/dangling_out", "/box/abs_dirlink/new2.txt",
               "/box/rel_dirlink/new3.txt", "/box/sub/../../new4.txt"]
    p = run(prog, "create", "/box/fresh.txt", *targets, extra=["--dir", f"{tree['box']}::/box"])
    got = lines_of(p)
    assert got["/box/fresh.txt"] == "created" and (tree["box"] / "fresh.txt").read_text() == "pwned"
    for t in targets:
        assert got[t].startswith("errno"), (t, got[t])
    outside = tree["outside"]
    assert sorted(x.name for x in outside.iterdir()) == ["dir", "secret.txt"]
    assert not (tree["tmp"] / "new4.txt").exists()
    assert (outside / "secret.txt").read_text() == SECRET


def test_mkdir_symlink_list_stat_cannot_escape(prog, tree):
    box = tree["box"]
    pre = ["--dir", f"{box}::/box"]
    p = run(prog, "mkdir", "/box/../outside/evil", "/box/abs_dirlink/evil", extra=pre)
    assert all(v.startswith("errno") for v in lines_of(p).values()), p.stdout
    assert not (tree["outside"] / "evil").exists()
    # a symlink may be created, but following it outside is refused
    p = run(prog, "symlink", "/box/mylink", "../outside/secret.txt", extra=pre)
    p = run(prog, "open", "/box/mylink", extra=pre)
    assert lines_of(p)["/box/mylink"].startswith("errno") and SECRET not in p.stdout
    p = run(prog, "list", "/box", "/box/..", "/box/abs_dirlink", "/box/rel_dirlink", "/", extra=pre)
    got = lines_of(p)
    assert "entries" in got["/box"]
    for k in ("/box/..", "/box/abs_dirlink", "/box/rel_dirlink", "/"):
        assert got[k].startswith("errno"), (k, got[k])
    p = run(prog, "stat", "/box/inside.txt", "/box/../outside/secret.txt", "/box/abs_link",
            "/box/abs_dirlink/secret.txt", extra=pre)
    got = lines_of(p)
    assert got["/box/inside.txt"] == "size 12"
    for k in ("/box/../outside/secret.txt", "/box/abs_link", "/box/abs_dirlink/secret.txt"):
        assert got[k].startswith("errno"), (k, got[k])


def test_no_preopen_no_files(prog, tree):
    p = run(prog, "open", str(tree["outside"] / "secret.txt"), "/etc/passwd", "secret.txt")
    assert all(v.startswith("errno") for v in lines_of(p).values()), p.stdout
    assert SECRET not in p.stdout


def test_host_environment_not_exposed(prog):
    env = dict(os.environ, WIZARDPY_SANDBOX_SECRET="leak-me", HOME="/home/secret-user")
    p = run(prog, "env", env=env)
    assert p.returncode == 0, p.stderr
    assert "ENVCOUNT 0" in p.stdout and "leak-me" not in p.stdout and "secret-user" not in p.stdout
    p = run(prog, "env", env=env, extra=["--env", "ONLY=this", "--env", "EMPTY="])
    assert "ENV ONLY=this" in p.stdout and "ENV EMPTY=" in p.stdout and "ENVCOUNT 2" in p.stdout
    assert "leak-me" not in p.stdout


def test_argv_is_only_what_is_given(prog, tree):
    """argv[0] is the program's base name, never the host path of the module."""
    p = run(prog, "open", "x", extra=["--dir", f"{tree['box']}::/box"])
    assert str(prog.parent) not in p.stdout
