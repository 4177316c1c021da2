"""fs adapter: keys can never leave the root; resolve_fs_root guards the management API."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims.errors import ObjectNotFound, StorageError, ValidationFailed
from ims.storage import FsStorage, resolve_fs_root

pytestmark = pytest.mark.anyio


@pytest.fixture
def layout(tmp_path):
    """root/ (the storage) beside outside/secret.txt (must stay unreachable)."""
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    return root, outside


@pytest.mark.parametrize("key", ["../outside/secret.txt", "a/../../outside/secret.txt", "/etc/passwd", "x\x00y"])
async def test_escaping_keys_are_refused(layout, key):
    root, outside = layout
    storage = FsStorage(root)

    with pytest.raises(ValidationFailed):
        await storage.get(key, max_bytes=100)
    with pytest.raises(ValidationFailed):
        await storage.put(key, b"owned", "text/plain")
    with pytest.raises(ValidationFailed):
        await storage.delete(key)

    assert (outside / "secret.txt").read_text() == "secret"
    assert list(root.iterdir()) == []


async def test_list_keys_never_follows_symlinks_nor_shows_hidden_files(layout):
    root, outside = layout
    (root / "photos").mkdir()
    (root / "photos" / "a.jpg").write_bytes(b"a")
    (root / ".a.jpg.0123.tmp").write_bytes(b"half written")
    (root / "link.txt").symlink_to(outside / "secret.txt")
    (root / "linked-dir").symlink_to(outside, target_is_directory=True)

    assert await FsStorage(root).list_keys(limit=10) == ["photos/a.jpg"]


async def test_symlinked_file_pointing_outside_is_not_an_object(layout):
    root, outside = layout
    (root / "link.txt").symlink_to(outside / "secret.txt")
    storage = FsStorage(root)

    with pytest.raises(ObjectNotFound):
        await storage.get("link.txt", max_bytes=100)
    with pytest.raises(ObjectNotFound):
        await storage.head("link.txt")
    await storage.put("link.txt", b"owned", "text/plain")  # replaces the link itself, never its target

    assert (outside / "secret.txt").read_text() == "secret"
    assert not (root / "link.txt").is_symlink() and (root / "link.txt").read_bytes() == b"owned"


async def test_symlinked_directory_pointing_outside_is_refused(layout):
    root, outside = layout
    (root / "dir").symlink_to(outside, target_is_directory=True)
    storage = FsStorage(root)

    with pytest.raises(ObjectNotFound):
        await storage.get("dir/secret.txt", max_bytes=100)
    with pytest.raises(ObjectNotFound):
        await storage.head("dir/secret.txt")
    with pytest.raises(ValidationFailed, match="symbolic link 'dir'") as e:
        await storage.put("dir/new.txt", b"owned", "text/plain")
    assert e.value.field == "object_key"
    await storage.delete("dir/secret.txt")  # nothing to delete inside the root

    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


async def test_symlinks_inside_the_root_are_not_followed_either(layout):
    root, _ = layout
    (root / "real").mkdir()
    (root / "real" / "a.png").write_bytes(b"png")
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    (root / "b.png").symlink_to(root / "real" / "a.png")
    storage = FsStorage(root)

    assert (await storage.get("real/a.png", max_bytes=10)).data == b"png"
    for key in ("alias/a.png", "b.png"):
        with pytest.raises(ObjectNotFound):
            await storage.get(key, max_bytes=10)


async def test_a_swap_to_a_symlink_while_reading_never_serves_the_outside_file(layout):
    """A thread swaps a.png for a symlink to a file outside the root, and back, while
    20,000 reads run: every read returns the inside file or "not found", never the outside
    one. (The check-then-open code before served the outside file ~3 times in 4,000 reads.)"""
    root, outside = layout
    inside, secret = b"inside" * 10, b"SECRET" * 10
    (outside / "secret.png").write_bytes(secret)
    (root / "a.png").write_bytes(inside)
    storage = FsStorage(root)
    stop = threading.Event()
    swaps = 0

    def swap() -> None:
        nonlocal swaps
        while not stop.is_set():
            os.symlink(outside / "secret.png", root / "link.tmp")
            os.replace(root / "link.tmp", root / "a.png")
            (root / "file.tmp").write_bytes(inside)
            os.replace(root / "file.tmp", root / "a.png")
            swaps += 1

    swapper = threading.Thread(target=swap)
    swapper.start()
    served, missing = [], 0
    try:
        for _ in range(10_000):
            try:
                served.append((await storage.get("a.png", max_bytes=1000)).data)
            except (ObjectNotFound, ValidationFailed):  # refused: it was a symlink
                missing += 1
            try:
                served.append(await _read_via_head_then_get(storage))
            except (ObjectNotFound, ValidationFailed):
                missing += 1
    finally:
        stop.set()
        swapper.join()

    assert secret not in served
    assert set(served) <= {inside}
    assert swaps > 0 and len(served) + missing == 20_000


async def _read_via_head_then_get(storage: FsStorage) -> bytes:
    await storage.head("a.png")
    return (await storage.get("a.png", max_bytes=1000)).data


async def test_a_symlink_loop_or_an_overlong_segment_is_not_found_not_a_storage_error(layout):
    root, _ = layout
    (root / "loop").symlink_to(root / "loop")
    storage = FsStorage(root)
    long = "x" * 300 + ".png"

    for key in ("loop", "loop/a.png", long, f"d/{long}"):
        with pytest.raises(ObjectNotFound):
            await storage.get(key, max_bytes=10)
        with pytest.raises(ObjectNotFound):
            await storage.head(key)
        await storage.delete(key)
    with pytest.raises(ValidationFailed, match="longer than the file system allows"):
        await storage.put(long, b"x", "image/png")


async def test_a_fifo_is_not_an_object_and_does_not_hang(layout):
    root, _ = layout
    fifo = root / "pipe.png"
    os.mkfifo(fifo)
    storage = FsStorage(root)
    done = threading.Event()

    def feed_a_blocked_reader() -> None:  # so that a reader stuck in open() fails the test instead of hanging it
        while not done.wait(0.05):
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO while nobody has it open for reading
            except OSError:
                continue
            os.write(fd, b"fifo")
            os.close(fd)

    feeder = threading.Thread(target=feed_a_blocked_reader)
    feeder.start()
    try:
        with pytest.raises(ObjectNotFound):
            await storage.get("pipe.png", max_bytes=10)
        with pytest.raises(ObjectNotFound):
            await storage.head("pipe.png")
    finally:
        done.set()
        feeder.join()


async def test_a_root_holding_ims_own_files_is_refused_by_the_storage_itself(tmp_path):
    (tmp_path / "secret.key").write_text("k")
    storage = FsStorage(tmp_path, private=(tmp_path / "secret.key",))

    with pytest.raises(StorageError, match="ims's own files"):
        await storage.get("secret.key", max_bytes=100)
    with pytest.raises(StorageError, match="ims's own files"):
        await storage.put("secret.key", b"png", "image/png")
    with pytest.raises(StorageError, match="ims's own files"):
        await storage.head("secret.key")
    assert (tmp_path / "secret.key").read_text() == "k"


async def test_root_itself_reached_through_a_symlink(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "via").symlink_to(real, target_is_directory=True)
    storage = FsStorage(tmp_path / "via")

    await storage.put("k/a.jpg", b"jpg", "image/jpeg")

    assert (real / "k" / "a.jpg").read_bytes() == b"jpg"


SIZES = pytest.mark.parametrize("size", [3, 100_000], ids=["small", "large"])


@SIZES
async def test_put_is_atomic_and_leaves_no_temp_files(layout, size):
    root, _ = layout
    storage = FsStorage(root)

    await storage.put("a/b/c.webp", b"1" * size, "image/webp")
    await storage.put("a/b/c.webp", b"2" * size, "image/webp")

    assert sorted(p.name for p in (root / "a" / "b").iterdir()) == ["c.webp"]
    assert (root / "a" / "b" / "c.webp").read_bytes() == b"2" * size
    assert oct((root / "a" / "b" / "c.webp").stat().st_mode & 0o777) == oct(0o644)


async def test_content_type_guessed_from_extension(layout):
    root, _ = layout
    storage = FsStorage(root)
    for name in ("a.jpg", "a.jpeg", "a.webp", "a.avif", "a.gif", "a.PNG", "a.unknownext"):
        (root / name).write_bytes(b"x")

    types = {name: (await storage.head(name)).content_type for name in sorted(os.listdir(root))}

    assert types == {
        "a.PNG": "image/png",
        "a.avif": "image/avif",
        "a.gif": "image/gif",
        "a.jpeg": "image/jpeg",
        "a.jpg": "image/jpeg",
        "a.unknownext": None,
        "a.webp": "image/webp",
    }


async def test_a_directory_is_not_an_object(layout):
    root, _ = layout
    (root / "folder").mkdir()
    storage = FsStorage(root)

    with pytest.raises(ObjectNotFound):
        await storage.get("folder", max_bytes=10)
    with pytest.raises(ObjectNotFound):
        await storage.head("folder")


@SIZES
async def test_put_over_an_existing_directory_fails_cleanly(layout, size):
    root, _ = layout
    (root / "taken").mkdir()
    (root / "file").write_bytes(b"")
    storage = FsStorage(root)

    with pytest.raises(StorageError):
        await storage.put("taken", b"x" * size, "image/png")
    with pytest.raises(StorageError, match="a file and a directory share that name"):
        await storage.put("file/child.png", b"x" * size, "image/png")
    assert sorted(p.name for p in root.iterdir()) == ["file", "taken"]  # no temp file left behind
    assert list((root / "taken").iterdir()) == []


@settings(max_examples=300, deadline=None)
@given(key=st.text(alphabet=st.sampled_from(list("ab./\\\x00 é")), max_size=12))
def test_no_key_writes_outside_the_root(tmp_path_factory, key):
    base = tmp_path_factory.mktemp("prop")
    root = base / "root"
    root.mkdir()
    storage = FsStorage(root)
    try:
        storage.put_blocking(key, b"x")
    except (ValidationFailed, StorageError):
        pass
    assert os.listdir(base) == ["root"]
    assert all(not p.is_symlink() for p in root.rglob("*"))


# --- resolve_fs_root ----------------------------------------------------------------------


@pytest.fixture
def roots(tmp_path):
    allowed = tmp_path / "allowed"
    (allowed / "photos").mkdir(parents=True)
    (allowed / "file.txt").write_text("x")
    (tmp_path / "elsewhere").mkdir()
    return allowed


def test_accepts_an_existing_directory_inside_a_root(roots):
    assert resolve_fs_root(str(roots / "photos"), [roots]) == (roots / "photos").resolve()
    assert resolve_fs_root(str(roots), [roots]) == roots.resolve()


def test_refuses_a_missing_directory(roots):
    with pytest.raises(ValidationFailed, match="does not exist") as e:
        resolve_fs_root(str(roots / "nope"), [roots], field="path")
    assert e.value.field == "path"


def test_refuses_a_file(roots):
    with pytest.raises(ValidationFailed, match="is not a directory"):
        resolve_fs_root(str(roots / "file.txt"), [roots])


def test_refuses_paths_outside_the_roots_and_lists_them(roots, tmp_path):
    for path in (tmp_path / "elsewhere", roots / ".." / "elsewhere", Path("/etc")):
        with pytest.raises(ValidationFailed, match="outside the allowed roots") as e:
            resolve_fs_root(str(path), [roots], field="destination_path")
        assert str(roots) in e.value.message
        assert e.value.field == "destination_path"


def test_outside_paths_do_not_reveal_whether_they_exist(roots, tmp_path):
    with pytest.raises(ValidationFailed, match="outside the allowed roots"):
        resolve_fs_root(str(tmp_path / "no-such-dir"), [roots])


def test_refuses_a_symlink_inside_a_root_pointing_outside(roots, tmp_path):
    (roots / "sneaky").symlink_to(tmp_path / "elsewhere", target_is_directory=True)

    with pytest.raises(ValidationFailed, match="outside the allowed roots"):
        resolve_fs_root(str(roots / "sneaky"), [roots])


def test_accepts_a_root_given_through_a_symlink(roots, tmp_path):
    (tmp_path / "link-to-allowed").symlink_to(roots, target_is_directory=True)

    assert resolve_fs_root(str(roots / "photos"), [tmp_path / "link-to-allowed"]) == (roots / "photos").resolve()


def test_refuses_relative_paths(roots, monkeypatch):
    monkeypatch.chdir(roots)
    with pytest.raises(ValidationFailed, match="absolute"):
        resolve_fs_root("photos", [roots])


def test_any_of_several_roots(roots, tmp_path):
    assert resolve_fs_root(str(tmp_path / "elsewhere"), [roots, tmp_path / "elsewhere"])


def test_refuses_a_path_that_would_reach_ims_own_files(roots):
    private = ((roots / "photos" / "secret.key").resolve(), (roots / "cache").resolve())
    (roots / "cache" / "x").mkdir(parents=True)

    for path in (roots, roots / "photos", roots / "cache", roots / "cache" / "x"):
        with pytest.raises(ValidationFailed, match="ims's own files") as e:
            resolve_fs_root(str(path), [roots], private=private)
        assert e.value.field == "path"
    assert resolve_fs_root(str(roots / "cache" / ".." / "photos" / ".."), [roots]) == roots.resolve()
