"""All-or-nothing output files, never left half-written, even by a killed process.

On Linux an output is written to a file without a name (O_TMPFILE) in the target's own folder,
fsynced, and only then given its name (linkat of /proc/self/fd/N, then a rename when a file is
replaced). A process killed before that, even by SIGKILL, leaves nothing: the kernel frees a nameless
file with its last descriptor. Elsewhere (other systems; filesystems without O_TMPFILE, such as some
network ones) the output is a hidden `.NAME.PID@HOST.RANDOM.part` beside the target, fsynced and
renamed at commit. Only SIGKILL can leave one of those, and the next run that writes the same target
removes it once the process that made it is gone.

Outputs get the mode a new file gets (0o666 less the umask, as `open` would), or keep the mode of the
file they replace. Failures raise OutputError / OutputWriteError naming the target, never a temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import socket
import stat
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from provenance.errors import OutputError, OutputWriteError, ProvenanceError

_O_TMPFILE = getattr(os, "O_TMPFILE", 0)
# What open(O_TMPFILE) fails with where the kernel or filesystem cannot make nameless files.
_NO_TMPFILE = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}
_PROC_FD = "/proc/self/fd"
_FLAGS = os.O_RDWR | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_HOST = f"{zlib.crc32(socket.gethostname().encode()):08x}"  # which machine a .part belongs to (shared folders)
_PART = re.compile(r"\.(?P<pid>\d+)@(?P<host>[0-9a-f]{8})\.[0-9a-f]+\.part\Z")


class _Output:
    """One pending output: a descriptor of its (nameless or hidden) file, and the file handed out."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.folder = target.parent
        self.part: Path | None = None  # the hidden file, when the output has a name before commit
        self.folder_fd: int | None = None  # where a nameless file is linked (the folder it was made in)
        self.fd = -1
        self.file: BinaryIO | None = None
        try:
            self.fd = self._create()
            # A duplicate, so the caller may close its file object before commit.
            self.file = os.fdopen(os.dup(self.fd), "w+b")
        except BaseException:
            self.discard()
            raise

    def _create(self) -> int:
        _remove_stale_parts(self.target)
        if _O_TMPFILE and os.path.isdir(_PROC_FD):
            self.folder_fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                # 0o666: the kernel applies the umask (or the folder's default ACL), as for any new file.
                return os.open(".", _O_TMPFILE | _FLAGS, 0o666, dir_fd=self.folder_fd)
            except OSError as e:
                if e.errno not in _NO_TMPFILE:
                    raise
            os.close(self.folder_fd)
            self.folder_fd = None
        for _ in range(100):
            part = _part_name(self.target)
            try:
                fd = os.open(part, _FLAGS | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            self.part = part
            return fd
        raise FileExistsError(errno.EEXIST, "no free temporary name", str(self.target))

    def prepare(self) -> None:
        """Flush, give it the replaced file's mode, fsync: the file must be whole before it has its name."""
        if self.file is not None and not self.file.closed:
            self.file.flush()
        try:
            replaced = os.stat(self.target)
        except OSError:
            replaced = None
        if replaced is not None and stat.S_ISREG(replaced.st_mode):
            mode = stat.S_IMODE(replaced.st_mode)
            if stat.S_IMODE(os.fstat(self.fd).st_mode) != mode:
                os.chmod(self.part if self.part is not None else self.fd, mode)
        os.fsync(self.fd)

    def publish(self) -> None:
        if self.part is not None:
            os.replace(self.part, self.target)
            self.part = None
            return
        assert self.folder_fd is not None
        folder, name, source = self.folder_fd, self.target.name, f"{_PROC_FD}/{self.fd}"
        # With a dir_fd, os.link calls linkat(AT_SYMLINK_FOLLOW), which links the file the magic link
        # stands for; plain link(2) refuses (EXDEV).
        try:
            os.link(source, name, src_dir_fd=folder, dst_dir_fd=folder)
            return  # nothing was there: the name appears with the whole file behind it
        except FileExistsError:
            pass
        # Replacing a file: link under a hidden name, then rename that over the target (atomic).
        for _ in range(100):
            part = _part_name(self.target).name
            try:
                os.link(source, part, src_dir_fd=folder, dst_dir_fd=folder)
            except FileExistsError:
                continue
            try:
                os.replace(part, name, src_dir_fd=folder, dst_dir_fd=folder)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(part, dir_fd=folder)
                raise
            return
        raise FileExistsError(errno.EEXIST, "no free temporary name", str(self.target))

    def sync_folder(self) -> None:
        """Make the new name durable too; best effort (not every system can fsync a folder)."""
        if os.name != "posix":
            return
        with contextlib.suppress(OSError):
            if self.folder_fd is not None:
                os.fsync(self.folder_fd)
                return
            fd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def discard(self) -> None:
        if self.file is not None:
            with contextlib.suppress(OSError):
                self.file.close()
            self.file = None
        for fd in (self.fd, self.folder_fd):
            if fd is not None and fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.fd, self.folder_fd = -1, None
        if self.part is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.part)
            self.part = None


class AtomicWrite:
    """Collects outputs and puts them in place together on commit."""

    def __init__(self) -> None:
        self._pending: list[_Output] = []

    def open(self, target: str | os.PathLike[str]) -> BinaryIO:
        path = Path(target)
        try:
            output = _Output(path)
        except OSError as e:
            raise output_error(path, e) from e
        self._pending.append(output)
        assert output.file is not None
        return output.file

    def commit(self) -> None:
        for output in self._pending:
            _for(output, output.prepare)
        for output in self._pending:
            _for(output, output.publish)
        for output in self._pending:
            output.sync_folder()
        self.abort()  # closes the descriptors; the files keep their new names

    def abort(self) -> None:
        for output in self._pending:
            output.discard()
        self._pending.clear()


def _for(output: _Output, step: Callable[[], None]) -> None:
    try:
        step()
    except OSError as e:
        raise output_error(output.target, e) from e


@contextlib.contextmanager
def atomic_files() -> Iterator[AtomicWrite]:
    writer = AtomicWrite()
    try:
        yield writer
        writer.commit()
    finally:
        writer.abort()


def write_bytes_atomically(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_files() as w, w.open(target) as f:
        f.write(data)


def output_error(target: Path, e: OSError) -> ProvenanceError:
    """A one-line error about `target` itself, whatever temporary file the OSError names."""
    folder = target.parent
    if e.errno in (errno.EACCES, errno.EPERM):
        return OutputError(f"cannot write {target}: permission denied",
                           remedy=f"Choose a destination you may write to, or allow writing in {folder}.")
    if e.errno == errno.EROFS:
        return OutputError(f"cannot write {target}: {folder} is on a read-only filesystem",
                           remedy="Choose a destination on a writable filesystem.")
    if e.errno in (errno.ENOENT, errno.ENOTDIR):
        return OutputError(f"cannot write {target}: folder {folder} does not exist",
                           remedy="Create it first or choose another destination.")
    if e.errno == errno.EISDIR:
        return OutputError(f"cannot write {target}: it is a directory", remedy="Give a file name.")
    if e.errno == errno.ENAMETOOLONG:
        return OutputError(f"cannot write {target}: the name is too long", remedy="Choose a shorter file name.")
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return OutputWriteError(f"cannot write {target}: no space left on the device",
                                remedy=f"Free disk space (or quota) for {folder}, or choose another destination.")
    return OutputWriteError(f"cannot write {target}: {e.strerror or e}")


def _part_name(target: Path) -> Path:
    # The owner's pid and host, so a later run can tell a dead run's leftover from a live one's file.
    return target.with_name(f".{target.name[:180]}.{os.getpid()}@{_HOST}.{secrets.token_hex(4)}.part")


def _remove_stale_parts(target: Path) -> None:
    """Delete hidden files for `target` left by runs on this host that were killed (their pid is gone)."""
    if os.name != "posix":  # os.kill(pid, 0) does not test a pid elsewhere
        return
    prefix = f".{target.name[:180]}."
    try:
        with os.scandir(target.parent) as entries:
            names = [e.name for e in entries if e.name.startswith(prefix) and e.name.endswith(".part")]
    except OSError:
        return
    for name in names:
        match = _PART.match(name, len(prefix) - 1)
        if match is None or match["host"] != _HOST or _alive(int(match["pid"])):
            continue
        with contextlib.suppress(OSError):
            os.unlink(target.parent / name)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's process, alive
        return True
    return True
