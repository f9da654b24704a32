"""WASI preview1 (`wasi_snapshot_preview1`) for real wasi-libc programs.

    config = WasiConfig(argv=["app", "x"], env={"K": "V"}, preopens=[("/host/dir", "/guest")])
    wasi = define_wasi(linker, config)      # defines every preview1 function on the linker

Host functions are defined with `access_caller=True` and read/write guest memory through
`caller.memory.data` (re-taken on every call: memory may grow). A guest pointer out of bounds
gives EFAULT, never a Python exception; `proc_exit` raises `ExitStatus(code)`.

Sandboxing: file descriptors 0/1/2 are stdin/stdout/stderr, preopened directories start at fd 3.
Every path is resolved component by component INSIDE the directory of its fd (each directory
fd is a capability, as in wasmtime/cap-std): absolute paths, `..` above that directory and
symlinks that lead outside it give EPERM, as wasmtime does (tests/test_wasi.py compares the
two). The walk opens each directory itself (openat + O_NOFOLLOW), expands symlinks by reading
them and keeps its own stack for `..`; the final operation is done relative to the last
directory fd without following symlinks. The host never follows a symlink or `..` for us, so
a concurrent rename or symlink swap cannot lead the walk outside.

Errno values and reported rights follow wasmtime where preview1 leaves room (EBADF for
read/write on a directory, EINVAL for ftruncate on a read-only fd, the rights fd_fdstat_get
shows). stdout/stderr are flushed after each fd_write and in proc_exit; output is bytes.

Nothing here reads the host environment: the guest sees only what the config passes.
"""
from __future__ import annotations

import errno as _errno
import io
import os
import select
import stat as _stat
import struct
import sys
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import ExitStatus
from .types import I32, I64, FuncType

__all__ = ["WasiConfig", "Wasi", "define_wasi", "wasi_functions", "host_errno_to_wasi",
           "FUNCTION_NAMES", "MODULE"]

MODULE = "wasi_snapshot_preview1"

# ---------------------------------------------------------------------------------------------
# preview1 constants

ESUCCESS = 0
E2BIG = 1
EACCES = 2
EAGAIN = 6
EBADF = 8
EEXIST = 20
EFAULT = 21
EFBIG = 22
EILSEQ = 25
EINTR = 27
EINVAL = 28
EIO = 29
EISDIR = 31
ELOOP = 32
ENAMETOOLONG = 37
ENOENT = 44
ENOSYS = 52
ENOTDIR = 54
ENOTEMPTY = 55
ENOTSOCK = 57
ENOTSUP = 58
EOVERFLOW = 61
EPERM = 63
ESPIPE = 70
ENOTCAPABLE = 76

# what a path that would leave its preopen gets: wasmtime (cap-std) answers EPERM
E_ESCAPE = EPERM

# every preview1 errno, by its POSIX name (used to translate host OSError.errno values)
_WASI_ERRNO_NAMES = (
    "SUCCESS 2BIG ACCES ADDRINUSE ADDRNOTAVAIL AFNOSUPPORT AGAIN ALREADY BADF BADMSG BUSY "
    "CANCELED CHILD CONNABORTED CONNREFUSED CONNRESET DEADLK DESTADDRREQ DOM DQUOT EXIST FAULT "
    "FBIG HOSTUNREACH IDRM ILSEQ INPROGRESS INTR INVAL IO ISCONN ISDIR LOOP MFILE MLINK MSGSIZE "
    "MULTIHOP NAMETOOLONG NETDOWN NETRESET NETUNREACH NFILE NOBUFS NODEV NOENT NOEXEC NOLCK "
    "NOLINK NOMEM NOMSG NOPROTOOPT NOSPC NOSYS NOTCONN NOTDIR NOTEMPTY NOTRECOVERABLE NOTSOCK "
    "NOTSUP NOTTY NXIO OVERFLOW OWNERDEAD PERM PIPE PROTO PROTONOSUPPORT PROTOTYPE RANGE ROFS "
    "SPIPE SRCH STALE TIMEDOUT TXTBSY XDEV NOTCAPABLE").split()


def _build_host_errno_map() -> dict[int, int]:
    m: dict[int, int] = {}
    for code, name in enumerate(_WASI_ERRNO_NAMES):
        host = getattr(_errno, "E" + name, None)
        if host is not None and host not in m:
            m[host] = code
    for alias, target in (("EWOULDBLOCK", EAGAIN), ("EOPNOTSUPP", ENOTSUP),
                          ("EDEADLOCK", 16)):
        host = getattr(_errno, alias, None)
        if host is not None and host not in m:
            m[host] = target
    return m


_HOST_ERRNO = _build_host_errno_map()


def host_errno_to_wasi(e: int | None) -> int:
    """Translate a host errno value into the preview1 errno (EIO when unknown)."""
    if e is None:
        return EIO
    return _HOST_ERRNO.get(e, EIO)


# filetype
FT_UNKNOWN = 0
FT_BLOCK_DEVICE = 1
FT_CHARACTER_DEVICE = 2
FT_DIRECTORY = 3
FT_REGULAR_FILE = 4
FT_SOCKET_DGRAM = 5
FT_SOCKET_STREAM = 6
FT_SYMBOLIC_LINK = 7

# fdflags
FDFLAG_APPEND = 1
FDFLAG_DSYNC = 2
FDFLAG_NONBLOCK = 4
FDFLAG_RSYNC = 8
FDFLAG_SYNC = 16

# oflags
O_CREAT = 1
O_DIRECTORY = 2
O_EXCL = 4
O_TRUNC = 8

LOOKUP_SYMLINK_FOLLOW = 1

# fstflags
FST_ATIM = 1
FST_ATIM_NOW = 2
FST_MTIM = 4
FST_MTIM_NOW = 8

WHENCE_SET, WHENCE_CUR, WHENCE_END = 0, 1, 2

CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID = 0, 1, 2, 3

EVENTTYPE_CLOCK, EVENTTYPE_FD_READ, EVENTTYPE_FD_WRITE = 0, 1, 2
SUBCLOCKFLAG_ABSTIME = 1
EVENTRWFLAG_HANGUP = 1

PREOPENTYPE_DIR = 0

# rights
R_FD_DATASYNC = 1 << 0
R_FD_READ = 1 << 1
R_FD_SEEK = 1 << 2
R_FD_FDSTAT_SET_FLAGS = 1 << 3
R_FD_SYNC = 1 << 4
R_FD_TELL = 1 << 5
R_FD_WRITE = 1 << 6
R_FD_ADVISE = 1 << 7
R_FD_ALLOCATE = 1 << 8
R_PATH_CREATE_DIRECTORY = 1 << 9
R_PATH_CREATE_FILE = 1 << 10
R_PATH_LINK_SOURCE = 1 << 11
R_PATH_LINK_TARGET = 1 << 12
R_PATH_OPEN = 1 << 13
R_FD_READDIR = 1 << 14
R_PATH_READLINK = 1 << 15
R_PATH_RENAME_SOURCE = 1 << 16
R_PATH_RENAME_TARGET = 1 << 17
R_PATH_FILESTAT_GET = 1 << 18
R_PATH_FILESTAT_SET_SIZE = 1 << 19
R_PATH_FILESTAT_SET_TIMES = 1 << 20
R_FD_FILESTAT_GET = 1 << 21
R_FD_FILESTAT_SET_SIZE = 1 << 22
R_FD_FILESTAT_SET_TIMES = 1 << 23
R_PATH_SYMLINK = 1 << 24
R_PATH_REMOVE_DIRECTORY = 1 << 25
R_PATH_UNLINK_FILE = 1 << 26
R_POLL_FD_READWRITE = 1 << 27
R_SOCK_SHUTDOWN = 1 << 28
R_SOCK_ACCEPT = 1 << 29
RIGHTS_ALL = (1 << 30) - 1

RIGHTS_FILE = (R_FD_DATASYNC | R_FD_READ | R_FD_SEEK | R_FD_FDSTAT_SET_FLAGS | R_FD_SYNC
               | R_FD_TELL | R_FD_WRITE | R_FD_ADVISE | R_FD_ALLOCATE | R_FD_FILESTAT_GET
               | R_FD_FILESTAT_SET_SIZE | R_FD_FILESTAT_SET_TIMES | R_POLL_FD_READWRITE)
RIGHTS_DIR = (R_FD_FDSTAT_SET_FLAGS | R_FD_SYNC | R_FD_ADVISE | R_PATH_CREATE_DIRECTORY
              | R_PATH_CREATE_FILE | R_PATH_LINK_SOURCE | R_PATH_LINK_TARGET | R_PATH_OPEN
              | R_FD_READDIR | R_PATH_READLINK | R_PATH_RENAME_SOURCE | R_PATH_RENAME_TARGET
              | R_PATH_FILESTAT_GET | R_PATH_FILESTAT_SET_SIZE | R_PATH_FILESTAT_SET_TIMES
              | R_FD_FILESTAT_GET | R_FD_FILESTAT_SET_TIMES | R_PATH_SYMLINK
              | R_PATH_REMOVE_DIRECTORY | R_PATH_UNLINK_FILE)
RIGHTS_STDIO = (R_FD_READ | R_FD_WRITE | R_FD_FDSTAT_SET_FLAGS | R_FD_FILESTAT_GET
                | R_POLL_FD_READWRITE)
# the rights wasmtime reports (fd_fdstat_get) for a preopen, and for a directory opened by path
RIGHTS_PREOPEN_BASE = 0x7B7FE00        # the path_* rights, readdir, fd_filestat_get/set_times
RIGHTS_PREOPEN_INHERITING = 0xFF7FFFF  # everything up to PATH_UNLINK_FILE but FD_FILESTAT_SET_SIZE
RIGHTS_OPENED_DIR = RIGHTS_ALL & ~(R_FD_SEEK | R_FD_WRITE | R_PATH_FILESTAT_SET_SIZE
                                   | R_FD_FILESTAT_SET_SIZE)

# struct layouts (little endian, wasm32)
IOVEC = struct.Struct("<II")                 # buf, buf_len                      (8 bytes)
PRESTAT = struct.Struct("<BxxxI")            # tag, u.dir.pr_name_len             (8 bytes)
FDSTAT = struct.Struct("<BxHxxxxQQ")         # filetype, flags, rights_base, rights_inh (24)
FILESTAT = struct.Struct("<QQBxxxxxxxQQQQQ")  # dev ino filetype nlink size atim mtim ctim (64)
DIRENT = struct.Struct("<QQIBxxx")           # d_next d_ino d_namlen d_type       (24 bytes)
SUBSCRIPTION = struct.Struct("<QB7x")        # userdata, tag; union at +16        (48 bytes)
SUBSCRIPTION_SIZE = 48
SUB_CLOCK = struct.Struct("<IxxxxQQH")       # id, timeout, precision, flags (at +16)
SUB_FD = struct.Struct("<I")                 # file_descriptor (at +16)
EVENT = struct.Struct("<QHBxxxxxQH6x")       # userdata error type; nbytes flags  (32 bytes)

assert IOVEC.size == 8 and PRESTAT.size == 8 and FDSTAT.size == 24 and FILESTAT.size == 64
assert DIRENT.size == 24 and SUBSCRIPTION.size == 16 and SUB_CLOCK.size == 26
assert EVENT.size == 32

_MAX_SYMLINK_DEPTH = 40
_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF


def _s64(v: int) -> int:
    v &= _U64
    return v - (1 << 64) if v >> 63 else v


# ---------------------------------------------------------------------------------------------
# configuration


@dataclass
class WasiConfig:
    """What a WASI program sees of the world.

    argv: the program's arguments (str or bytes; argv[0] is the program name).
    env: the environment the guest sees (only this: never the host's environment).
    preopens: [(host_dir, guest_path)]; they become fds 3, 4, ... in this order.
    stdin: None → the process's stdin; bytes → that content; or a binary file-like (read/read1).
    stdout / stderr: None → the process's stdout / stderr; or a file-like taking bytes.
    """
    argv: list = field(default_factory=list)
    env: dict = field(default_factory=dict)
    preopens: list = field(default_factory=list)
    stdin: Any = None
    stdout: Any = None
    stderr: Any = None


class _Errno(Exception):
    """Internal: abort a WASI call with this preview1 errno."""

    def __init__(self, code: int):
        self.code = code


def _fault() -> _Errno:
    return _Errno(EFAULT)


# ---------------------------------------------------------------------------------------------
# file descriptor table entries


class _Entry:
    kind = "?"
    rights_base = 0
    rights_inheriting = 0
    fdflags = 0
    preopen_name: bytes | None = None

    def close(self) -> None:
        pass


class _StreamEntry(_Entry):
    """fd 0/1/2: a Python stream (or bytes for stdin)."""

    def __init__(self, stream: Any, readable: bool, fallback: Callable[[], Any] | None = None):
        self.kind = "stream"
        self.stream = stream
        self.readable = readable
        self.rights_base = R_FD_READ if readable else R_FD_WRITE   # as wasmtime reports
        self.rights_inheriting = self.rights_base
        self.before_write = fallback   # called before each write (flush a text layer above us)

    def filetype(self) -> int:
        fileno = getattr(self.stream, "fileno", None)
        if fileno is not None:
            try:
                st = os.fstat(fileno())
                return _filetype_of_mode(st.st_mode)
            except (OSError, ValueError, io.UnsupportedOperation):
                pass
        return FT_CHARACTER_DEVICE if not isinstance(self.stream, io.BytesIO) else FT_UNKNOWN

    def read(self, n: int) -> bytes:
        if not self.readable:
            raise _Errno(EBADF)
        s = self.stream
        try:
            read1 = getattr(s, "read1", None)
            data = read1(n) if read1 is not None else s.read(n)
        except (OSError, ValueError) as e:
            raise _Errno(host_errno_to_wasi(getattr(e, "errno", None)))
        if data is None:
            raise _Errno(EAGAIN)
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        return bytes(data)

    def write(self, data: bytes) -> int:
        if self.readable:
            raise _Errno(EBADF)
        if self.before_write is not None:
            self.before_write()
        s = self.stream
        try:
            if isinstance(s, io.TextIOBase):
                buf = getattr(s, "buffer", None)
                if buf is not None:
                    s.flush()
                    buf.write(data)
                    buf.flush()
                else:
                    s.write(data.decode("utf-8", "replace"))
                    s.flush()
            else:
                s.write(data)
                flush = getattr(s, "flush", None)
                if flush is not None:
                    flush()
        except OSError as e:
            raise _Errno(host_errno_to_wasi(e.errno))
        return len(data)

    def flush(self) -> None:
        flush = getattr(self.stream, "flush", None)
        if flush is not None and not self.readable:
            try:
                flush()
            except (OSError, ValueError):
                pass


class _FileEntry(_Entry):
    """A host file descriptor: a regular file (or device, fifo) or a directory."""

    def __init__(self, osfd: int, is_dir: bool, rights_base: int, rights_inheriting: int,
                 fdflags: int = 0, preopen_name: bytes | None = None):
        self.kind = "dir" if is_dir else "file"
        self.osfd = osfd
        self.rights_base = rights_base
        self.rights_inheriting = rights_inheriting
        self.fdflags = fdflags
        self.preopen_name = preopen_name
        self.dir_cache: list[tuple[bytes, int, int]] | None = None

    def close(self) -> None:
        if self.osfd >= 0:
            try:
                os.close(self.osfd)
            except OSError:
                pass
            self.osfd = -1


def _filetype_of_mode(mode: int) -> int:
    if _stat.S_ISREG(mode):
        return FT_REGULAR_FILE
    if _stat.S_ISDIR(mode):
        return FT_DIRECTORY
    if _stat.S_ISLNK(mode):
        return FT_SYMBOLIC_LINK
    if _stat.S_ISCHR(mode):
        return FT_CHARACTER_DEVICE
    if _stat.S_ISBLK(mode):
        return FT_BLOCK_DEVICE
    if _stat.S_ISSOCK(mode):
        return FT_SOCKET_STREAM
    return FT_UNKNOWN


def _filestat_tuple(st: os.stat_result) -> tuple:
    return (st.st_dev & _U64, st.st_ino & _U64, _filetype_of_mode(st.st_mode), st.st_nlink,
            st.st_size, st.st_atime_ns & _U64, st.st_mtime_ns & _U64, st.st_ctime_ns & _U64)


# ---------------------------------------------------------------------------------------------
# guest memory access


class _Mem:
    """Bounds-checked little-endian access to the caller's linear memory (one WASI call)."""

    __slots__ = ("mv", "size")

    def __init__(self, caller: Any):
        mem = getattr(caller, "memory", None)
        if mem is None:
            self.mv = memoryview(b"")
        else:
            mv = mem.data
            if not isinstance(mv, memoryview):
                mv = memoryview(mv)
            if mv.format != "B" or mv.ndim != 1:
                mv = mv.cast("B")
            self.mv = mv
        self.size = len(self.mv)

    def check(self, ptr: int, n: int) -> None:
        if ptr < 0 or n < 0 or ptr + n > self.size:
            raise _fault()

    def read(self, ptr: int, n: int) -> bytes:
        self.check(ptr, n)
        return self.mv[ptr:ptr + n].tobytes()

    def write(self, ptr: int, data: bytes) -> None:
        n = len(data)
        self.check(ptr, n)
        self.mv[ptr:ptr + n] = data

    def unpack(self, st: struct.Struct, ptr: int) -> tuple:
        self.check(ptr, st.size)
        return st.unpack_from(self.mv, ptr)

    def pack(self, st: struct.Struct, ptr: int, *values: Any) -> None:
        self.check(ptr, st.size)
        st.pack_into(self.mv, ptr, *values)

    def u32(self, ptr: int, value: int) -> None:
        self.check(ptr, 4)
        struct.pack_into("<I", self.mv, ptr, value & _U32)

    def u64(self, ptr: int, value: int) -> None:
        self.check(ptr, 8)
        struct.pack_into("<Q", self.mv, ptr, value & _U64)

    def iovecs(self, ptr: int, count: int) -> list[tuple[int, int]]:
        self.check(ptr, count * 8)
        out = []
        for i in range(count):
            buf, n = IOVEC.unpack_from(self.mv, ptr + 8 * i)
            self.check(buf, n)
            out.append((buf, n))
        return out

    def string(self, ptr: int, n: int) -> str:
        raw = self.read(ptr, n)
        if b"\0" in raw:
            raise _Errno(EINVAL)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _Errno(EILSEQ)


# ---------------------------------------------------------------------------------------------
# the WASI state


def _to_bytes(s: Any) -> bytes:
    if isinstance(s, (bytes, bytearray, memoryview)):
        return bytes(s)
    return str(s).encode("utf-8", "surrogateescape")


class Wasi:
    """The state of one WASI instance: arguments, environment and the fd table."""

    def __init__(self, config: WasiConfig | None = None):
        config = config or WasiConfig()
        self.config = config
        self.args = [_to_bytes(a) for a in config.argv]
        env = config.env or {}
        items = env.items() if hasattr(env, "items") else env
        self.environ = [_to_bytes(k) + b"=" + _to_bytes(v) for k, v in items]
        self.fds: dict[int, _Entry] = {}
        stdin = config.stdin
        if stdin is None:
            stdin = getattr(sys.stdin, "buffer", sys.stdin)
        elif isinstance(stdin, (bytes, bytearray, memoryview, str)):
            stdin = io.BytesIO(_to_bytes(stdin))
        stdout = config.stdout
        default_out = stdout is None
        if stdout is None:
            stdout = getattr(sys.stdout, "buffer", sys.stdout)
        stderr = config.stderr
        default_err = stderr is None
        if stderr is None:
            stderr = getattr(sys.stderr, "buffer", sys.stderr)
        self.fds[0] = _StreamEntry(stdin, True)
        # when writing to the process's own stdout, flush Python's text layer first so that
        # output printed by Python before the call comes out before the guest's output
        self.fds[1] = _StreamEntry(stdout, False,
                                   _flush_text(sys.stdout) if default_out else None)
        self.fds[2] = _StreamEntry(stderr, False,
                                   _flush_text(sys.stderr) if default_err else None)
        fd = 3
        for host_dir, guest_path in config.preopens:
            osfd = os.open(os.fspath(host_dir), _DIR_FLAGS)
            self.fds[fd] = _FileEntry(osfd, True, RIGHTS_PREOPEN_BASE,
                                      RIGHTS_PREOPEN_INHERITING,
                                      preopen_name=_to_bytes(guest_path))
            fd += 1
        # close the host fds we opened when this WASI state goes away (or on close())
        self._finalizer = weakref.finalize(self, _close_entries, self.fds)

    # -- bookkeeping ------------------------------------------------------------------------

    def flush(self) -> None:
        """Flush stdout and stderr (called by proc_exit)."""
        for fd in (1, 2):
            e = self.fds.get(fd)
            if isinstance(e, _StreamEntry):
                e.flush()

    def close(self) -> None:
        """Close every host file this instance opened."""
        self.flush()
        self._finalizer()

    def _entry(self, fd: int) -> _Entry:
        e = self.fds.get(fd & _U32)
        if e is None:
            raise _Errno(EBADF)
        return e

    def _file(self, fd: int) -> _FileEntry:
        e = self._entry(fd)
        if not isinstance(e, _FileEntry):
            raise _Errno(EBADF)
        return e

    def _dir(self, fd: int) -> _FileEntry:
        e = self._entry(fd)
        if not isinstance(e, _FileEntry):
            raise _Errno(ENOTDIR)
        if e.kind != "dir":
            raise _Errno(ENOTDIR)
        return e

    def _alloc_fd(self) -> int:
        fd = 0
        while fd in self.fds:
            fd += 1
        return fd

    # -- path resolution --------------------------------------------------------------------

    def resolve(self, d: _FileEntry, path: str, follow: bool) -> "_Resolved":
        """Resolve `path` relative to the directory of entry `d`, never leaving it.

        The walk opens each intermediate directory itself (openat with O_NOFOLLOW), expands
        symlinks it meets (and the last component when `follow` or the path ends in "/") by
        reading them, and handles ".." with its own stack of directory fds: the host never
        follows a symlink or a "..", so a concurrent rename cannot smuggle the walk outside.
        Leaving the directory of `d` (an absolute path, ".." past the start, an absolute
        symlink, a symlink climbing out) raises E_ESCAPE (EPERM), as wasmtime/cap-std does.
        """
        if path == "":
            raise _Errno(ENOENT)
        if path.startswith("/"):
            raise _Errno(E_ESCAPE)
        trailing = path.endswith("/")
        todo = [c for c in path.split("/") if c not in ("", ".")]
        todo.reverse()             # a stack: the next component is todo[-1]
        stack = [d.osfd]           # directory fds; stack[1:] are ours to close
        links = 0
        res = _Resolved(stack, ".", trailing)
        try:
            while todo:
                comp = todo.pop()
                if comp == "..":
                    if len(stack) == 1:
                        raise _Errno(E_ESCAPE)
                    os.close(stack.pop())
                    continue
                if len(comp.encode("utf-8", "surrogateescape")) > 255:
                    raise _Errno(ENAMETOOLONG)
                last = not todo
                if last and not (follow or res.trailing):
                    res.name = comp
                    return res
                try:
                    st = os.stat(comp, dir_fd=stack[-1], follow_symlinks=False)
                except FileNotFoundError:
                    if last:
                        res.name = comp
                        return res
                    raise _Errno(ENOENT)
                if _stat.S_ISLNK(st.st_mode):
                    links += 1
                    if links > _MAX_SYMLINK_DEPTH:
                        raise _Errno(ELOOP)
                    target = os.readlink(comp, dir_fd=stack[-1])
                    if target.startswith("/"):
                        raise _Errno(E_ESCAPE)
                    if last and target.endswith("/"):
                        res.trailing = True
                    todo.extend(reversed([c for c in target.split("/") if c not in ("", ".")]))
                    continue
                if last:
                    res.name = comp
                    return res
                if not _stat.S_ISDIR(st.st_mode):
                    raise _Errno(ENOTDIR)
                stack.append(os.open(comp, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=stack[-1]))
            res.name = "."         # the walk ended on a directory (e.g. "a/..", a link to ".")
            return res
        except BaseException:
            res.close()
            raise

    def path_at(self, fd: int, mem: _Mem, ptr: int, n: int, follow: bool) -> "_Resolved":
        """Read a guest path and resolve it relative to directory fd `fd` (see `resolve`)."""
        d = self._dir(fd)
        return self.resolve(d, mem.string(ptr, n), follow)


_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


class _Resolved:
    """A resolved path: operate on `name` relative to directory fd `dirfd`, without following
    a final symlink. Close it (or use it as a context manager) to release the walk's fds."""

    __slots__ = ("stack", "name", "trailing")

    def __init__(self, stack: list[int], name: str, trailing: bool):
        self.stack = stack
        self.name = name
        self.trailing = trailing

    @property
    def dirfd(self) -> int:
        return self.stack[-1]

    def close(self) -> None:
        while len(self.stack) > 1:
            try:
                os.close(self.stack.pop())
            except OSError:
                pass

    def __enter__(self) -> "_Resolved":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _close_entries(fds: dict) -> None:
    for e in fds.values():
        e.close()
    fds.clear()


def _flush_text(stream: Any) -> Callable[[], None]:
    def flush() -> None:
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    return flush


# ---------------------------------------------------------------------------------------------
# the host functions


def _make_functions(w: Wasi) -> dict[str, tuple[FuncType, Callable]]:
    fns: dict[str, tuple[FuncType, Callable]] = {}

    def wasi(params: str, results: str = "i"):
        ptypes = tuple(I32 if c == "i" else I64 for c in params)
        rtypes = tuple(I32 if c == "i" else I64 for c in results)
        ftype = FuncType(ptypes, rtypes)

        def deco(fn: Callable) -> Callable:
            name = fn.__name__

            def host(caller: Any, *args: int) -> int:
                try:
                    return fn(_Mem(caller), *args)
                except _Errno as e:
                    return e.code
                except OSError as e:
                    return host_errno_to_wasi(e.errno)
            host.__name__ = name
            host.__qualname__ = f"wasi.{name}"
            fns[name] = (ftype, host)
            return fn
        return deco

    # -- args / environ -------------------------------------------------------------------

    def _strings_get(mem: _Mem, strings: list[bytes], ptrs: int, buf: int) -> int:
        ptrs &= _U32
        buf &= _U32
        mem.check(ptrs, 4 * len(strings))
        mem.check(buf, sum(len(s) + 1 for s in strings))
        for i, s in enumerate(strings):
            mem.u32(ptrs + 4 * i, buf)
            mem.write(buf, s + b"\0")
            buf += len(s) + 1
        return ESUCCESS

    def _sizes_get(mem: _Mem, strings: list[bytes], count_ptr: int, size_ptr: int) -> int:
        count_ptr &= _U32
        size_ptr &= _U32
        mem.check(count_ptr, 4)
        mem.check(size_ptr, 4)
        mem.u32(count_ptr, len(strings))
        mem.u32(size_ptr, sum(len(s) + 1 for s in strings))
        return ESUCCESS

    @wasi("ii")
    def args_get(mem, argv, argv_buf):
        return _strings_get(mem, w.args, argv, argv_buf)

    @wasi("ii")
    def args_sizes_get(mem, argc_ptr, size_ptr):
        return _sizes_get(mem, w.args, argc_ptr, size_ptr)

    @wasi("ii")
    def environ_get(mem, environ, environ_buf):
        return _strings_get(mem, w.environ, environ, environ_buf)

    @wasi("ii")
    def environ_sizes_get(mem, count_ptr, size_ptr):
        return _sizes_get(mem, w.environ, count_ptr, size_ptr)

    # -- clocks / random / sched / proc -----------------------------------------------------

    _clock_now = {
        CLOCK_REALTIME: time.time_ns,
        CLOCK_MONOTONIC: time.monotonic_ns,
        CLOCK_PROCESS_CPUTIME_ID: time.process_time_ns,
        CLOCK_THREAD_CPUTIME_ID: time.thread_time_ns,
    }
    _clock_info_name = {CLOCK_REALTIME: "time", CLOCK_MONOTONIC: "monotonic",
                        CLOCK_PROCESS_CPUTIME_ID: "process_time",
                        CLOCK_THREAD_CPUTIME_ID: "thread_time"}

    @wasi("ii")
    def clock_res_get(mem, clock_id, res_ptr):
        clock_id &= _U32
        if clock_id not in _clock_now:
            return EINVAL
        try:
            res = time.get_clock_info(_clock_info_name[clock_id]).resolution
        except (ValueError, OSError):
            res = 1e-9
        mem.u64(res_ptr & _U32, max(1, int(round(res * 1e9))))
        return ESUCCESS

    @wasi("iIi")
    def clock_time_get(mem, clock_id, precision, time_ptr):
        clock_id &= _U32
        now = _clock_now.get(clock_id)
        if now is None:
            return EINVAL
        time_ptr &= _U32
        mem.check(time_ptr, 8)
        mem.u64(time_ptr, now())
        return ESUCCESS

    @wasi("ii")
    def random_get(mem, buf, n):
        buf &= _U32
        n &= _U32
        mem.check(buf, n)
        if n:
            mem.write(buf, os.urandom(n))
        return ESUCCESS

    @wasi("")
    def sched_yield(mem):
        if hasattr(os, "sched_yield"):
            os.sched_yield()
        return ESUCCESS

    def proc_exit(caller: Any, code: int) -> None:
        w.flush()
        raise ExitStatus(code & _U32)
    fns["proc_exit"] = (FuncType((I32,), ()), proc_exit)

    @wasi("i")
    def proc_raise(mem, sig):
        return ENOSYS

    # -- fd: read / write -------------------------------------------------------------------

    def _readable_osfd(e: _Entry) -> int:
        if not isinstance(e, _FileEntry):
            raise _Errno(EBADF)
        if e.kind == "dir":
            raise _Errno(EBADF)     # wasmtime: EBADF (not EISDIR) for read/write on a directory
        if not e.rights_base & R_FD_READ:
            raise _Errno(EBADF)
        return e.osfd

    def _writable_osfd(e: _Entry) -> int:
        if not isinstance(e, _FileEntry):
            raise _Errno(EBADF)
        if e.kind == "dir":
            raise _Errno(EBADF)
        if not e.rights_base & R_FD_WRITE:
            raise _Errno(EBADF)
        return e.osfd

    def _do_read(mem: _Mem, e: _Entry, iovs: list[tuple[int, int]], offset: int | None) -> int:
        total = 0
        if isinstance(e, _StreamEntry):
            if not e.readable:
                raise _Errno(EBADF)
            if offset is not None:
                raise _Errno(ESPIPE)
            for buf, n in iovs:
                if n == 0:
                    continue
                data = e.read(n)
                mem.write(buf, data)
                total += len(data)
                if len(data) < n:
                    break
            return total
        osfd = _readable_osfd(e)
        # read straight into guest memory (zero-copy): readv / preadv on memoryview slices
        bufs = [mem.mv[buf:buf + n] for buf, n in iovs if n]
        if not bufs:
            return 0
        if offset is None:
            return os.readv(osfd, bufs)
        return os.preadv(osfd, bufs, offset)

    def _do_write(mem: _Mem, e: _Entry, iovs: list[tuple[int, int]], offset: int | None) -> int:
        if isinstance(e, _StreamEntry):
            if e.readable:
                raise _Errno(EBADF)
            if offset is not None:
                raise _Errno(ESPIPE)
            data = b"".join(mem.mv[buf:buf + n] for buf, n in iovs)
            if not data:
                return 0
            return e.write(data)
        osfd = _writable_osfd(e)
        bufs = [mem.mv[buf:buf + n] for buf, n in iovs if n]
        if not bufs:
            return 0
        if offset is None:
            return os.writev(osfd, bufs)     # a short write is reported as such (POSIX)
        return os.pwritev(osfd, bufs, offset)

    def _vectored(mem, fd, iovs, iovs_len, offset, count_ptr, transfer):
        """fd_read/fd_pread/fd_write/fd_pwrite: `transfer` moves the iovecs' bytes at `offset`
        (None: the fd's position); the byte count goes to `count_ptr`."""
        e = w._entry(fd)
        count_ptr &= _U32
        mem.check(count_ptr, 4)
        vecs = mem.iovecs(iovs & _U32, iovs_len & _U32)
        if offset is not None:
            offset = _s64(offset)
            if offset < 0:
                return EINVAL
        mem.u32(count_ptr, transfer(mem, e, vecs, offset))
        return ESUCCESS

    @wasi("iiii")
    def fd_read(mem, fd, iovs, iovs_len, nread_ptr):
        return _vectored(mem, fd, iovs, iovs_len, None, nread_ptr, _do_read)

    @wasi("iiiIi")
    def fd_pread(mem, fd, iovs, iovs_len, offset, nread_ptr):
        return _vectored(mem, fd, iovs, iovs_len, offset, nread_ptr, _do_read)

    @wasi("iiii")
    def fd_write(mem, fd, iovs, iovs_len, nwritten_ptr):
        return _vectored(mem, fd, iovs, iovs_len, None, nwritten_ptr, _do_write)

    @wasi("iiiIi")
    def fd_pwrite(mem, fd, iovs, iovs_len, offset, nwritten_ptr):
        return _vectored(mem, fd, iovs, iovs_len, offset, nwritten_ptr, _do_write)

    @wasi("iIii")
    def fd_seek(mem, fd, offset, whence, newoffset_ptr):
        e = w._entry(fd)
        newoffset_ptr &= _U32
        mem.check(newoffset_ptr, 8)
        whence &= _U32
        if whence not in (WHENCE_SET, WHENCE_CUR, WHENCE_END):
            return EINVAL
        if isinstance(e, _StreamEntry):
            return ESPIPE
        if not isinstance(e, _FileEntry) or e.kind == "dir":
            return EBADF
        how = {WHENCE_SET: os.SEEK_SET, WHENCE_CUR: os.SEEK_CUR, WHENCE_END: os.SEEK_END}[whence]
        offset = _s64(offset)
        if whence == WHENCE_SET and offset < 0:
            return EINVAL
        mem.u64(newoffset_ptr, os.lseek(e.osfd, offset, how))
        return ESUCCESS

    @wasi("ii")
    def fd_tell(mem, fd, offset_ptr):
        e = w._entry(fd)
        offset_ptr &= _U32
        mem.check(offset_ptr, 8)
        if isinstance(e, _StreamEntry):
            return ESPIPE
        if not isinstance(e, _FileEntry) or e.kind == "dir":
            return EBADF
        mem.u64(offset_ptr, os.lseek(e.osfd, 0, os.SEEK_CUR))
        return ESUCCESS

    # -- fd: misc -----------------------------------------------------------------------------

    @wasi("i")
    def fd_close(mem, fd):
        e = w._entry(fd)
        e.close()
        del w.fds[fd & _U32]
        return ESUCCESS

    @wasi("ii")
    def fd_renumber(mem, fd, to):
        e = w._entry(fd)
        old = w._entry(to)
        fd &= _U32
        to &= _U32
        if fd == to:
            return ESUCCESS
        old.close()
        w.fds[to] = e
        del w.fds[fd]
        return ESUCCESS

    def _sync(fd: int, data_only: bool) -> int:
        e = w._entry(fd)
        if isinstance(e, _StreamEntry):
            e.flush()
            return ESUCCESS if not e.readable else EINVAL
        assert isinstance(e, _FileEntry)
        try:
            if data_only and hasattr(os, "fdatasync"):
                os.fdatasync(e.osfd)
            else:
                os.fsync(e.osfd)
        except OSError as ex:
            if e.kind == "dir" and ex.errno in (_errno.EINVAL, _errno.EBADF):
                return ESUCCESS
            raise
        return ESUCCESS

    @wasi("i")
    def fd_sync(mem, fd):
        return _sync(fd, False)

    @wasi("i")
    def fd_datasync(mem, fd):
        return _sync(fd, True)

    @wasi("iIIi")
    def fd_advise(mem, fd, offset, length, advice):
        e = w._entry(fd)
        advice &= _U32
        if advice > 5:
            return EINVAL
        if not isinstance(e, _FileEntry):
            return ESPIPE
        if e.kind == "dir":
            return EBADF
        offset, length = _s64(offset), _s64(length)
        if offset < 0 or length < 0:
            return EINVAL
        if hasattr(os, "posix_fadvise"):
            host_advice = [os.POSIX_FADV_NORMAL, os.POSIX_FADV_SEQUENTIAL, os.POSIX_FADV_RANDOM,
                           os.POSIX_FADV_WILLNEED, os.POSIX_FADV_DONTNEED,
                           os.POSIX_FADV_NOREUSE][advice]
            try:
                os.posix_fadvise(e.osfd, offset, length, host_advice)
            except OSError:
                pass   # advice only
        return ESUCCESS

    @wasi("iII")
    def fd_allocate(mem, fd, offset, length):
        e = w._entry(fd)
        if not isinstance(e, _FileEntry):
            return EBADF
        if e.kind == "dir":
            return EBADF
        offset, length = _s64(offset), _s64(length)
        if offset < 0 or length <= 0:
            return EINVAL
        if not e.rights_base & R_FD_WRITE:
            return EBADF
        end = offset + length
        try:
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(e.osfd, offset, length)
                return ESUCCESS
        except OSError as ex:
            if ex.errno not in (_errno.EOPNOTSUPP, _errno.EINVAL):
                raise
        if os.fstat(e.osfd).st_size < end:
            os.ftruncate(e.osfd, end)
        return ESUCCESS

    @wasi("ii")
    def fd_fdstat_get(mem, fd, buf):
        e = w._entry(fd)
        buf &= _U32
        mem.check(buf, FDSTAT.size)
        if isinstance(e, _StreamEntry):
            ft = e.filetype()
            flags = e.fdflags
        else:
            assert isinstance(e, _FileEntry)
            ft = _filetype_of_mode(os.fstat(e.osfd).st_mode)
            flags = e.fdflags
            if e.kind != "dir" and hasattr(os, "O_APPEND"):
                try:
                    import fcntl
                    hostfl = fcntl.fcntl(e.osfd, fcntl.F_GETFL)
                    flags = (flags & ~FDFLAG_APPEND) | (
                        FDFLAG_APPEND if hostfl & os.O_APPEND else 0)
                except (ImportError, OSError):
                    pass
        mem.pack(FDSTAT, buf, ft, flags, e.rights_base & _U64, e.rights_inheriting & _U64)
        return ESUCCESS

    @wasi("ii")
    def fd_fdstat_set_flags(mem, fd, flags):
        e = w._entry(fd)
        flags &= 0xFFFF
        if flags & ~(FDFLAG_APPEND | FDFLAG_DSYNC | FDFLAG_NONBLOCK | FDFLAG_RSYNC | FDFLAG_SYNC):
            return EINVAL
        if flags & (FDFLAG_DSYNC | FDFLAG_RSYNC | FDFLAG_SYNC):
            return ENOTSUP
        if isinstance(e, _StreamEntry):
            e.fdflags = flags
            return ESUCCESS
        assert isinstance(e, _FileEntry)
        if e.kind == "dir":
            return EBADF if flags & FDFLAG_APPEND else ESUCCESS
        try:
            import fcntl
            hostfl = fcntl.fcntl(e.osfd, fcntl.F_GETFL)
            hostfl &= ~(os.O_APPEND | os.O_NONBLOCK)
            if flags & FDFLAG_APPEND:
                hostfl |= os.O_APPEND
            if flags & FDFLAG_NONBLOCK:
                hostfl |= os.O_NONBLOCK
            fcntl.fcntl(e.osfd, fcntl.F_SETFL, hostfl)
        except ImportError:
            pass
        e.fdflags = flags
        return ESUCCESS

    @wasi("iII")
    def fd_fdstat_set_rights(mem, fd, base, inheriting):
        e = w._entry(fd)
        base &= _U64
        inheriting &= _U64
        if base & ~e.rights_base or inheriting & ~e.rights_inheriting:
            return ENOTCAPABLE
        e.rights_base = base
        e.rights_inheriting = inheriting
        return ESUCCESS

    @wasi("ii")
    def fd_filestat_get(mem, fd, buf):
        e = w._entry(fd)
        buf &= _U32
        mem.check(buf, FILESTAT.size)
        if isinstance(e, _StreamEntry):
            mem.pack(FILESTAT, buf, 0, 0, e.filetype(), 0, 0, 0, 0, 0)
            return ESUCCESS
        assert isinstance(e, _FileEntry)
        mem.pack(FILESTAT, buf, *_filestat_tuple(os.fstat(e.osfd)))
        return ESUCCESS

    @wasi("iI")
    def fd_filestat_set_size(mem, fd, size):
        e = w._entry(fd)
        if not isinstance(e, _FileEntry) or e.kind == "dir":
            return EBADF if not isinstance(e, _FileEntry) else EISDIR
        size = _s64(size)
        if size < 0:
            return EINVAL
        if not e.rights_base & R_FD_WRITE:
            return EINVAL           # as ftruncate(2) and wasmtime answer for a read-only fd
        os.ftruncate(e.osfd, size)
        return ESUCCESS

    def _times(st_atime_ns: Callable[[], tuple[int, int]], atim: int, mtim: int,
               fst: int) -> tuple[int, int]:
        fst &= 0xFFFF
        if fst & ~(FST_ATIM | FST_ATIM_NOW | FST_MTIM | FST_MTIM_NOW):
            raise _Errno(EINVAL)
        if (fst & FST_ATIM and fst & FST_ATIM_NOW) or (fst & FST_MTIM and fst & FST_MTIM_NOW):
            raise _Errno(EINVAL)
        now = time.time_ns()
        cur = None
        if not fst & (FST_ATIM | FST_ATIM_NOW) or not fst & (FST_MTIM | FST_MTIM_NOW):
            cur = st_atime_ns()
        a = atim & _U64 if fst & FST_ATIM else now if fst & FST_ATIM_NOW else cur[0]
        m = mtim & _U64 if fst & FST_MTIM else now if fst & FST_MTIM_NOW else cur[1]
        return a, m

    @wasi("iIIi")
    def fd_filestat_set_times(mem, fd, atim, mtim, fst):
        e = w._entry(fd)
        if not isinstance(e, _FileEntry):
            return EBADF

        def cur():
            st = os.fstat(e.osfd)
            return st.st_atime_ns, st.st_mtime_ns
        a, m = _times(cur, atim, mtim, fst)
        os.utime(e.osfd, ns=(a, m))
        return ESUCCESS

    # -- preopens / directories -------------------------------------------------------------

    @wasi("ii")
    def fd_prestat_get(mem, fd, buf):
        e = w._entry(fd)
        buf &= _U32
        mem.check(buf, PRESTAT.size)
        if e.preopen_name is None:
            return EBADF
        mem.pack(PRESTAT, buf, PREOPENTYPE_DIR, len(e.preopen_name))
        return ESUCCESS

    @wasi("iii")
    def fd_prestat_dir_name(mem, fd, path, path_len):
        e = w._entry(fd)
        if e.preopen_name is None:
            return EBADF
        path &= _U32
        path_len &= _U32
        name = e.preopen_name
        if path_len < len(name):
            return ENAMETOOLONG
        mem.write(path, name)
        return ESUCCESS

    @wasi("iiiIi")
    def fd_readdir(mem, fd, buf, buf_len, cookie, bufused_ptr):
        e = w._entry(fd)
        buf &= _U32
        buf_len &= _U32
        bufused_ptr &= _U32
        cookie &= _U64
        mem.check(bufused_ptr, 4)
        mem.check(buf, buf_len)
        if not isinstance(e, _FileEntry):
            return EBADF
        if e.kind != "dir":
            return ENOTDIR
        if e.dir_cache is None or cookie == 0:
            e.dir_cache = _list_dir(e)
        entries = e.dir_cache
        out = bytearray()
        i = cookie
        while i < len(entries) and len(out) < buf_len:
            name, ino, ft = entries[i]
            out += DIRENT.pack(i + 1, ino, len(name), ft) + name
            i += 1
        out = out[:buf_len]
        mem.write(buf, bytes(out))
        mem.u32(bufused_ptr, len(out))
        return ESUCCESS

    # -- paths ----------------------------------------------------------------------------------

    @wasi("iiiiiIIii")
    def path_open(mem, dirfd, dirflags, path, path_len, oflags, rights_base, rights_inh,
                  fdflags, fd_ptr):
        fd_ptr &= _U32
        mem.check(fd_ptr, 4)
        oflags &= 0xFFFF
        fdflags &= 0xFFFF
        rights_base &= _U64
        rights_inh &= _U64
        if oflags & ~(O_CREAT | O_DIRECTORY | O_EXCL | O_TRUNC):
            return EINVAL
        follow = bool(dirflags & LOOKUP_SYMLINK_FOLLOW)
        if oflags & O_CREAT and oflags & O_EXCL:
            follow = False          # O_CREAT|O_EXCL never follows a final symlink (EEXIST)
        d = w._dir(dirfd)
        want_write = bool(rights_base & (R_FD_WRITE | R_FD_ALLOCATE | R_FD_FILESTAT_SET_SIZE)) \
            or bool(oflags & O_TRUNC) or bool(fdflags & FDFLAG_APPEND)
        want_read = bool(rights_base & (R_FD_READ | R_FD_READDIR))
        if oflags & O_DIRECTORY and oflags & (O_CREAT | O_TRUNC):
            return EINVAL
        flags = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        if oflags & O_CREAT:
            flags |= os.O_CREAT
        if oflags & O_EXCL:
            flags |= os.O_EXCL
        if oflags & O_TRUNC:
            flags |= os.O_TRUNC
        if oflags & O_DIRECTORY:
            flags |= os.O_DIRECTORY
        if fdflags & FDFLAG_APPEND:
            flags |= os.O_APPEND
        if fdflags & FDFLAG_NONBLOCK:
            flags |= os.O_NONBLOCK
        if fdflags & FDFLAG_SYNC:
            flags |= os.O_SYNC
        if fdflags & FDFLAG_DSYNC:
            flags |= getattr(os, "O_DSYNC", os.O_SYNC)
        if fdflags & FDFLAG_RSYNC:
            flags |= getattr(os, "O_RSYNC", os.O_SYNC)
        if want_write:
            flags |= os.O_RDWR if want_read else os.O_WRONLY
        else:
            flags |= os.O_RDONLY
        with w.resolve(d, mem.string(path & _U32, path_len & _U32), follow) as r:
            if r.trailing:
                if oflags & O_CREAT:
                    return EISDIR if not oflags & O_EXCL else EEXIST
                flags |= os.O_DIRECTORY
            osfd = os.open(r.name, flags, 0o666, dir_fd=r.dirfd)
        try:
            st = os.fstat(osfd)
        except OSError:
            os.close(osfd)
            raise
        is_dir = _stat.S_ISDIR(st.st_mode)
        # Rights follow what the host open granted, reported as wasmtime reports them
        # (wasi-libc derives fcntl(F_GETFL) from FD_READ/FD_WRITE); requested rights that
        # the open mode does not grant are dropped rather than refused.
        if is_dir:
            base = RIGHTS_OPENED_DIR
        else:
            base = RIGHTS_ALL
            if not (flags & os.O_WRONLY or flags & os.O_RDWR):
                base &= ~R_FD_WRITE
            if flags & os.O_WRONLY:
                base &= ~R_FD_READ
        entry = _FileEntry(osfd, is_dir, base, base, fdflags)
        fd = w._alloc_fd()
        w.fds[fd] = entry
        mem.u32(fd_ptr, fd)
        return ESUCCESS

    @wasi("iiiii")
    def path_filestat_get(mem, fd, flags, path, path_len, buf):
        buf &= _U32
        mem.check(buf, FILESTAT.size)
        follow = bool(flags & LOOKUP_SYMLINK_FOLLOW)
        with w.path_at(fd, mem, path & _U32, path_len & _U32, follow) as r:
            st = os.stat(r.name, dir_fd=r.dirfd, follow_symlinks=False)
            if r.trailing and not _stat.S_ISDIR(st.st_mode):
                return ENOTDIR
        mem.pack(FILESTAT, buf, *_filestat_tuple(st))
        return ESUCCESS

    @wasi("iiiiIIi")
    def path_filestat_set_times(mem, fd, flags, path, path_len, atim, mtim, fst):
        follow = bool(flags & LOOKUP_SYMLINK_FOLLOW)
        with w.path_at(fd, mem, path & _U32, path_len & _U32, follow) as r:
            def cur():
                st = os.stat(r.name, dir_fd=r.dirfd, follow_symlinks=False)
                return st.st_atime_ns, st.st_mtime_ns
            a, m = _times(cur, atim, mtim, fst)
            os.utime(r.name, ns=(a, m), dir_fd=r.dirfd, follow_symlinks=False)
        return ESUCCESS

    @wasi("iii")
    def path_create_directory(mem, fd, path, path_len):
        with w.path_at(fd, mem, path & _U32, path_len & _U32, False) as r:
            os.mkdir(r.name, 0o777, dir_fd=r.dirfd)
        return ESUCCESS

    @wasi("iii")
    def path_remove_directory(mem, fd, path, path_len):
        with w.path_at(fd, mem, path & _U32, path_len & _U32, False) as r:
            os.rmdir(r.name, dir_fd=r.dirfd)
        return ESUCCESS

    @wasi("iii")
    def path_unlink_file(mem, fd, path, path_len):
        with w.path_at(fd, mem, path & _U32, path_len & _U32, False) as r:
            st = os.stat(r.name, dir_fd=r.dirfd, follow_symlinks=False)
            if _stat.S_ISDIR(st.st_mode):
                return EISDIR
            if r.trailing:
                return ENOTDIR
            os.unlink(r.name, dir_fd=r.dirfd)
        return ESUCCESS

    @wasi("iiiiii")
    def path_rename(mem, fd, old_path, old_len, new_fd, new_path, new_len):
        with w.path_at(fd, mem, old_path & _U32, old_len & _U32, False) as a, \
                w.path_at(new_fd, mem, new_path & _U32, new_len & _U32, False) as b:
            os.rename(a.name, b.name, src_dir_fd=a.dirfd, dst_dir_fd=b.dirfd)
        return ESUCCESS

    @wasi("iiiiiii")
    def path_link(mem, old_fd, old_flags, old_path, old_len, new_fd, new_path, new_len):
        follow = bool(old_flags & LOOKUP_SYMLINK_FOLLOW)
        with w.path_at(old_fd, mem, old_path & _U32, old_len & _U32, follow) as a, \
                w.path_at(new_fd, mem, new_path & _U32, new_len & _U32, False) as b:
            os.link(a.name, b.name, src_dir_fd=a.dirfd, dst_dir_fd=b.dirfd,
                    follow_symlinks=False)
        return ESUCCESS

    @wasi("iiiii")
    def path_symlink(mem, old_path, old_len, fd, new_path, new_len):
        target = mem.string(old_path & _U32, old_len & _U32)
        if target.startswith("/"):
            return E_ESCAPE   # an absolute target could never be followed inside the sandbox
        # a relative target is harmless: resolution checks every symlink it follows
        with w.path_at(fd, mem, new_path & _U32, new_len & _U32, False) as r:
            os.symlink(target, r.name, dir_fd=r.dirfd)
        return ESUCCESS

    @wasi("iiiiii")
    def path_readlink(mem, fd, path, path_len, buf, buf_len, bufused_ptr):
        buf &= _U32
        buf_len &= _U32
        bufused_ptr &= _U32
        mem.check(bufused_ptr, 4)
        mem.check(buf, buf_len)
        with w.path_at(fd, mem, path & _U32, path_len & _U32, False) as r:
            target = os.fsencode(os.readlink(r.name, dir_fd=r.dirfd))
        out = target[:buf_len]
        mem.write(buf, out)
        mem.u32(bufused_ptr, len(out))
        return ESUCCESS

    # -- poll ------------------------------------------------------------------------------------

    @wasi("iiii")
    def poll_oneoff(mem, in_ptr, out_ptr, nsubs, nevents_ptr):
        in_ptr &= _U32
        out_ptr &= _U32
        nsubs &= _U32
        nevents_ptr &= _U32
        mem.check(nevents_ptr, 4)
        if nsubs == 0:
            return EINVAL
        mem.check(in_ptr, nsubs * SUBSCRIPTION_SIZE)
        mem.check(out_ptr, nsubs * EVENT.size)
        clocks = []     # (deadline in monotonic ns, userdata)
        ready = []      # (userdata, error, type, nbytes, flags)
        waits = []      # (userdata, type, host fd) for streams we must wait on
        now_mono = time.monotonic_ns()
        for i in range(nsubs):
            base = in_ptr + i * SUBSCRIPTION_SIZE
            userdata, tag = mem.unpack(SUBSCRIPTION, base)
            if tag == EVENTTYPE_CLOCK:
                clock_id, timeout, _precision, flags = mem.unpack(SUB_CLOCK, base + 16)
                now = _clock_now.get(clock_id)
                if now is None:
                    ready.append((userdata, EINVAL, EVENTTYPE_CLOCK, 0, 0))
                    continue
                if flags & SUBCLOCKFLAG_ABSTIME:
                    delta = timeout - now()
                else:
                    delta = timeout
                clocks.append((now_mono + max(0, delta), userdata))
            elif tag in (EVENTTYPE_FD_READ, EVENTTYPE_FD_WRITE):
                (fd,) = mem.unpack(SUB_FD, base + 16)
                e = w.fds.get(fd)
                if e is None:
                    ready.append((userdata, EBADF, tag, 0, 0))
                elif isinstance(e, _FileEntry):
                    nbytes = 0
                    if tag == EVENTTYPE_FD_READ and e.kind == "file":
                        try:
                            nbytes = max(0, os.fstat(e.osfd).st_size
                                         - os.lseek(e.osfd, 0, os.SEEK_CUR))
                        except OSError:
                            nbytes = 0
                    ready.append((userdata, ESUCCESS, tag, nbytes, 0))
                else:
                    hostfd = None
                    try:
                        hostfd = e.stream.fileno()
                    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
                        pass
                    if hostfd is None or tag == EVENTTYPE_FD_WRITE:
                        ready.append((userdata, ESUCCESS, tag, 0, 0))
                    else:
                        waits.append((userdata, tag, hostfd))
            else:
                return EINVAL
        if not ready:
            timeout = None
            if clocks:
                timeout = max(0, min(c[0] for c in clocks) - time.monotonic_ns()) / 1e9
            if waits:
                r, _, _ = select.select([h for _, _, h in waits], [], [], timeout)
                for userdata, tag, hostfd in waits:
                    if hostfd in r:
                        ready.append((userdata, ESUCCESS, tag, 1, 0))
            elif timeout is not None and timeout > 0:
                time.sleep(timeout)
        now_mono = time.monotonic_ns()
        for deadline, userdata in clocks:
            if deadline <= now_mono:
                ready.append((userdata, ESUCCESS, EVENTTYPE_CLOCK, 0, 0))
        for i, (userdata, err, tag, nbytes, flags) in enumerate(ready):
            mem.pack(EVENT, out_ptr + i * EVENT.size, userdata, err, tag, nbytes, flags)
        mem.u32(nevents_ptr, len(ready))
        return ESUCCESS

    # -- sockets: not supported --------------------------------------------------------------

    def _sock(fd: int) -> int:
        w._entry(fd)
        return ENOTSUP

    @wasi("iii")
    def sock_accept(mem, fd, flags, fd_ptr):
        return _sock(fd)

    @wasi("iiiiii")
    def sock_recv(mem, fd, ri_data, ri_data_len, ri_flags, ro_datalen_ptr, ro_flags_ptr):
        return _sock(fd)

    @wasi("iiiii")
    def sock_send(mem, fd, si_data, si_data_len, si_flags, so_datalen_ptr):
        return _sock(fd)

    @wasi("ii")
    def sock_shutdown(mem, fd, how):
        return _sock(fd)

    return fns


def _list_dir(e: _FileEntry) -> list[tuple[bytes, int, int]]:
    """The entries of a directory as (name, inode, filetype), with "." and ".." first."""
    fd = e.osfd
    out: list[tuple[bytes, int, int]] = []
    for name in (".", ".."):
        try:
            ino = os.stat(name, dir_fd=fd, follow_symlinks=False).st_ino
        except OSError:
            ino = 0
        out.append((name.encode(), ino, FT_DIRECTORY))
    for name in os.listdir(fd):
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            ino, ft = st.st_ino, _filetype_of_mode(st.st_mode)
        except OSError:
            ino, ft = 0, FT_UNKNOWN
        out.append((os.fsencode(name), ino, ft))
    return out


# ---------------------------------------------------------------------------------------------
# public entry points


FUNCTION_NAMES = (
    "args_get args_sizes_get environ_get environ_sizes_get clock_res_get clock_time_get "
    "fd_advise fd_allocate fd_close fd_datasync fd_fdstat_get fd_fdstat_set_flags "
    "fd_fdstat_set_rights fd_filestat_get fd_filestat_set_size fd_filestat_set_times fd_pread "
    "fd_prestat_get fd_prestat_dir_name fd_pwrite fd_read fd_readdir fd_renumber fd_seek "
    "fd_sync fd_tell fd_write path_create_directory path_filestat_get path_filestat_set_times "
    "path_link path_open path_readlink path_remove_directory path_rename path_symlink "
    "path_unlink_file poll_oneoff proc_exit proc_raise sched_yield random_get sock_accept "
    "sock_recv sock_send sock_shutdown").split()


def wasi_functions(wasi: Wasi) -> dict[str, tuple[FuncType, Callable]]:
    """{name: (FuncType, fn(caller, *args))} for every preview1 function bound to `wasi`."""
    return _make_functions(wasi)


def define_wasi(linker: Any, config: WasiConfig | None = None) -> Wasi:
    """Define every `wasi_snapshot_preview1` function on `linker`; returns the WASI state."""
    wasi = config if isinstance(config, Wasi) else Wasi(config)
    for name, (ftype, fn) in _make_functions(wasi).items():
        linker.define_func(MODULE, name, ftype, fn, access_caller=True)
    return wasi
