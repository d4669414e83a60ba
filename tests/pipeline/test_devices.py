"""The storage behind a model folder (spinning, solid, network, memory), from this machine's /proc and /sys and from
trees built to look like other machines', and a real pool that reads a spinning disk one file at a time."""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import digests
from hikaze_mm.pipeline.devices import MAX_AUTO_WORKERS, Media, plan_workers, read_mounts
from hikaze_mm.pipeline.hashing import CHUNK, DeviceLocks, HashPool, hash_file

MIB = 1024 * 1024


def _disk(sys_root: Path, name: str, major: int, minor: int, rotational: bool, partitions: int = 0) -> None:
    """/sys as the kernel lays it out: the device's folder under devices/, a relative link to it in dev/block and
    class/block, a partition as a subfolder of its disk without a queue of its own."""
    disk = sys_root / "devices" / "pci0000:00" / "block" / name
    (disk / "queue").mkdir(parents=True)
    (disk / "queue" / "rotational").write_text("1\n" if rotational else "0\n")
    nodes = [(disk, major, minor)]
    for p in range(1, partitions + 1):
        part = disk / f"{name}{p}"
        part.mkdir()
        (part / "partition").write_text(f"{p}\n")
        nodes.append((part, major, minor + p))
    for node, ma, mi in nodes:
        (node / "dev").write_text(f"{ma}:{mi}\n")
        for folder, link in ((sys_root / "dev" / "block", f"{ma}:{mi}"), (sys_root / "class" / "block", node.name)):
            folder.mkdir(parents=True, exist_ok=True)
            (folder / link).symlink_to(os.path.relpath(node, folder))


def _mountinfo(path: Path, *mounts: tuple[str, str, str, str]) -> str:
    """Lines of /proc/self/mountinfo for (major:minor, mount point, type, source)."""
    lines = [f"{20 + i} 1 {dev} / {point} rw,relatime shared:{i} - {fstype} {source} rw"
             for i, (dev, point, fstype, source) in enumerate(mounts)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
def machine(tmp_path: Path) -> Media:
    """A machine with a hard disk (two partitions), an NVMe SSD, a NAS over NFS and over SMB, an sshfs mount, a
    btrfs volume on the hard disk, a tmpfs and an overlay."""
    sys_root = tmp_path / "sys"
    _disk(sys_root, "sda", 8, 0, rotational=True, partitions=2)
    _disk(sys_root, "nvme0n1", 259, 0, rotational=False)
    mountinfo = _mountinfo(
        tmp_path / "mountinfo",
        ("259:0", "/", "ext4", "/dev/nvme0n1"),
        ("8:1", "/mnt/hdd", "ext4", "/dev/sda1"),
        ("8:2", "/mnt/my\\040disk", "xfs", "/dev/sda2"),
        ("0:50", "/mnt/nas", "nfs4", "nas.lan:/models"),
        ("0:51", "/mnt/smb", "cifs", "//nas.lan/models"),
        ("0:52", "/mnt/remote", "fuse.sshfs", "me@gpu:/models"),
        ("0:53", "/mnt/pool", "btrfs", "/dev/sda2"),
        ("0:54", "/dev/shm", "tmpfs", "tmpfs"),
        ("0:55", "/var/lib/docker/x", "overlay", "overlay"),
    )
    return Media(str(sys_root), mountinfo)


@pytest.mark.parametrize(("dev", "path", "kind", "name", "serial"), [
    ((259, 0), None, "solid", "nvme0n1", False),
    ((8, 1), None, "rotational", "sda", True),  # a partition: its disk's queue says it spins
    ((8, 2), None, "rotational", "sda", True),
    ((0, 50), None, "network", "nas.lan:/models", True),
    ((0, 51), None, "network", "//nas.lan/models", True),
    ((0, 52), None, "network", "me@gpu:/models", True),
    ((0, 53), None, "rotational", "sda", True),  # btrfs: an anonymous device number, the source names the disk
    ((0, 99), "/mnt/pool/sub/volume/x.safetensors", "rotational", "sda", True),  # a subvolume: not in the table
    ((0, 54), None, "memory", "tmpfs", False),
    ((0, 55), None, "unknown", "overlay", False),
    ((0, 98), None, "unknown", "0:98", False),
])
def test_classifies_the_fixture_machine(machine: Media, dev: tuple[int, int], path: str | None, kind: str,
                                        name: str, serial: bool):
    medium = machine.of_device(os.makedev(*dev), path)
    assert (medium.kind, medium.name, medium.serial) == (kind, name, serial)
    assert medium.describe().startswith(medium.fstype)


def test_mount_points_are_unescaped(machine: Media):
    points = [m.point for m in read_mounts(machine.mountinfo)]
    assert "/mnt/my disk" in points


def test_no_mount_table_means_unknown(tmp_path: Path):
    medium = Media(str(tmp_path / "sys"), str(tmp_path / "no-mountinfo")).of_path(str(tmp_path))
    assert medium.kind == "unknown" and not medium.serial


def test_this_machine(tmp_path: Path):
    """The real /proc/self/mountinfo and /sys: the block device behind tmp_path, as the kernel describes it."""
    media = Media()
    st = os.stat(tmp_path)
    medium = media.of_path(str(tmp_path))
    assert medium.device == f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    mount = next((m for m in read_mounts() if (m.major, m.minor) == (os.major(st.st_dev), os.minor(st.st_dev))), None)
    assert mount is not None and medium.fstype == mount.fstype
    if medium.kind in ("rotational", "solid"):
        flag = Path("/sys/block", medium.name, "queue", "rotational").read_text().strip()
        assert (flag == "1") == (medium.kind == "rotational")
    assert media.of_path("/proc").kind == "unknown"
    assert media.of_path(str(tmp_path / "not" / "there" / "yet")) == medium  # a root that does not exist yet


def test_plan_workers_on_this_machine(tmp_path: Path):
    media = Media()
    auto = plan_workers("auto", [str(tmp_path)], media)
    assert auto.auto and auto.workers == min(len(os.sched_getaffinity(0)), MAX_AUTO_WORKERS)
    assert auto.media == {str(tmp_path): media.of_path(str(tmp_path))}
    fixed = plan_workers(3, [str(tmp_path)], media)
    assert not fixed.auto and fixed.workers == 3
    if auto.media[str(tmp_path)].serial:
        assert auto.media[str(tmp_path)].name in auto.reason and "one at a time" in auto.reason


def _spinning(tmp_path: Path) -> Media:
    """This machine, except that the disk under tmp_path says it spins."""
    st = os.stat(tmp_path)
    major, minor = os.major(st.st_dev), os.minor(st.st_dev)
    sys_root = tmp_path / "sys"
    _disk(sys_root, "sdz", major, minor, rotational=True)
    return Media(str(sys_root), _mountinfo(tmp_path / "mountinfo", (f"{major}:{minor}", "/", "ext4", "/dev/sdz")))


def _uncached(path: Path, size: int) -> None:
    """A file with none of its pages in memory. (Not checked with an RWF_NOWAIT read: that starts the kernel's
    readahead, which would put its first pages back.)"""
    with open(path, "wb") as f:
        f.write(os.urandom(size))
        f.flush()
        os.fsync(f.fileno())
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def _positions(paths: set[str]) -> dict[str, int]:
    """How far each open descriptor of these files has read, from /proc/self/fdinfo."""
    found = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target in paths:
                with open(f"/proc/self/fdinfo/{fd}") as f:
                    found[target] = int(f.readline().split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return found


async def test_a_spinning_disk_is_read_one_file_at_a_time(tmp_path: Path):
    """Four files none of whose pages are in memory, hashed by a pool of four workers: at any moment at most one
    is past its first chunk and not yet finished reading. A sampler thread reads every descriptor's position while
    they run. (A file in the page cache is read without waiting: the next test. The kernel's readahead can bring a
    waiting file's first chunk into the cache, which is then read without the lock, as it should be: a CI run saw
    one file at 4 MiB while another was mid-read.)"""
    if Media().of_path(str(tmp_path)).kind == "memory":
        pytest.skip(f"{tmp_path} is in memory: no file there can be taken out of the page cache")
    media = _spinning(tmp_path)
    assert media.of_path(str(tmp_path)).serial
    size = 24 * MIB
    files = [tmp_path / f"m{i}.safetensors" for i in range(4)]
    for f in files:
        _uncached(f, size)
    paths = {str(f) for f in files}
    done = threading.Event()
    overlaps: list[dict[str, int]] = []
    seen_mid_read: set[str] = set()

    def sample() -> None:
        while not done.is_set():
            reading = {p: pos for p, pos in _positions(paths).items() if CHUNK < pos < size}
            seen_mid_read.update(reading)
            if len(reading) > 1:
                overlaps.append(reading)

    pool = HashPool(4, media)
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        results = await asyncio.gather(*(pool.hash(str(f), None) for f in files))
    finally:
        done.set()
        sampler.join()
        pool.close()
    assert [r.sha256 for r in results] == [digests(f)[0] for f in files]
    assert overlaps == []
    assert seen_mid_read, "the sampler never saw a file being read"


def test_page_cached_files_do_not_wait_for_the_disk(tmp_path: Path):
    """With the spinning disk's lock held (as by a worker reading another file from it), a file in the page cache
    is hashed all the same: RWF_NOWAIT reads find it in memory."""
    media = _spinning(tmp_path)
    path = tmp_path / "cached.safetensors"
    path.write_bytes(os.urandom(8 * MIB))
    path.read_bytes()
    locks = DeviceLocks(media)
    lock = locks(os.stat(path).st_dev, str(path))
    assert lock is not None
    with lock, ThreadPoolExecutor(1) as sha:
        result = hash_file(str(path), None, sha, threading.Event(), None, locks)
    assert result.sha256 == digests(path)[0]


def test_a_solid_state_disk_takes_no_lock(tmp_path: Path):
    st = os.stat(tmp_path)
    sys_root = tmp_path / "sys"
    _disk(sys_root, "nvme9n1", os.major(st.st_dev), os.minor(st.st_dev), rotational=False)
    mountinfo = _mountinfo(tmp_path / "mountinfo", (f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}", "/", "ext4",
                                                    "/dev/nvme9n1"))
    assert DeviceLocks(Media(str(sys_root), mountinfo))(st.st_dev, str(tmp_path)) is None


async def test_the_daemon_says_what_it_chose(daemon, models: Path):
    """At start the log names the worker count and the storage behind each folder; /api/status shows the same."""
    status = await daemon.get("/api/status")
    chosen = status["hash_workers"]
    assert chosen["auto"] and chosen["workers"] == min(len(os.sched_getaffinity(0)), MAX_AUTO_WORKERS)
    medium = Media().of_path(str(models))
    assert {"root": str(models), "device": medium.name, "kind": medium.kind, "fstype": medium.fstype,
            "serial": medium.serial} in chosen["devices"]
    line = next(line for line in daemon.log().splitlines() if "event=hash.workers" in line)
    assert f"{chosen['workers']} hash workers" in line and medium.describe() in line
