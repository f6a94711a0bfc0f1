"""``prepare <name> --download`` against archives served from 127.0.0.1 inside the test process: a fresh
download, a resumed one (HTTP Range), a connection cut mid-way, a checksum mismatch, and the datasets
that have no direct link. The real network is never touched (the mirror variable points every URL here)."""

from __future__ import annotations

import hashlib
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from helpers.releases import UCSD_LABELS, avenue_release, ucsd_release

from lnra.data import download
from lnra.data.frames import list_videos
from lnra.data.prepare import main


@dataclass
class Served:
    """What the local server hands out and what it was asked."""

    files: dict[str, bytes] = field(default_factory=dict)
    cut_after: int | None = None  # send only this many bytes of the next response, then close
    ranges: list[str | None] = field(default_factory=list)


def _handler(served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep the test output quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            data = served.files.get(self.path.rsplit("/", 1)[-1])
            if data is None:
                self.send_error(404)
                return
            asked = self.headers.get("Range")
            served.ranges.append(asked)
            start = int(asked.split("=")[1].rstrip("-")) if asked else 0
            self.send_response(206 if asked else 200)
            self.send_header("Content-Length", str(len(data) - start))
            if asked:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            body = data[start:]
            if served.cut_after is not None:
                body, served.cut_after = body[: served.cut_after], None
            self.wfile.write(body)

    return Handler


@pytest.fixture
def mirror(monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    served = Served()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(download.MIRROR_ENV, f"http://127.0.0.1:{server.server_address[1]}/files")
    yield served
    server.shutdown()
    server.server_close()


def _publish(monkeypatch: pytest.MonkeyPatch, served: Served, name: str, files: dict[str, bytes],
             sha256: dict[str, str] | None = None) -> None:
    """Serve ``files`` and make them the official release of ``name`` (their real sums unless given)."""
    served.files.update(files)
    sums = {n: (sha256 or {}).get(n) or hashlib.sha256(data).hexdigest() for n, data in files.items()}
    archives = tuple(download.Archive(f"http://official.invalid/{n}", sums[n], len(data))
                     for n, data in files.items())
    monkeypatch.setitem(download.RELEASES, name, archives)


def _ucsd_tarball(tmp_path: Path) -> bytes:
    release = ucsd_release(tmp_path / "src")
    packed = tmp_path / "UCSD_Anomaly_Dataset.tar.gz"
    with tarfile.open(packed, "w:gz") as tar:
        tar.add(release, arcname=release.name)
    return packed.read_bytes()


def test_ped2_download_resumes_a_partial_file_then_prepares(tmp_path, mirror, monkeypatch, capsys) -> None:
    data = _ucsd_tarball(tmp_path)
    _publish(monkeypatch, mirror, "ped2", {"UCSD_Anomaly_Dataset.tar.gz": data})
    out = tmp_path / "data"
    (out / "downloads").mkdir(parents=True)
    half = len(data) // 2
    (out / "downloads" / "UCSD_Anomaly_Dataset.tar.gz.partial").write_bytes(data[:half])

    main(["ped2", "--download", "--out", str(out)])

    assert mirror.ranges == [f"bytes={half}-"]  # only the missing half travelled
    assert (out / "downloads" / "UCSD_Anomaly_Dataset.tar.gz").read_bytes() == data
    assert list_videos(out / "ped2" / "testing" / "frames").names == ["01", "02", "03"]
    assert np.load(out / "ped2" / "frame_labels_ped2.npy")[0].tolist() == UCSD_LABELS
    printed = capsys.readouterr().out
    assert "resuming UCSD_Anomaly_Dataset.tar.gz" in printed and "checksum ok" in printed
    assert f"python run.py dataset=ped2 paths.data_dir={out}" in printed

    mirror.ranges.clear()  # a second run reuses the verified archive: nothing is fetched
    main(["ped2", "--download", "--out", str(out), "--overwrite"])
    assert mirror.ranges == []


def test_a_cut_connection_keeps_the_partial_file_and_the_rerun_resumes(tmp_path, mirror, monkeypatch,
                                                                        capsys) -> None:
    data = _ucsd_tarball(tmp_path)
    _publish(monkeypatch, mirror, "ped2", {"UCSD_Anomaly_Dataset.tar.gz": data})
    out = tmp_path / "data"
    mirror.cut_after = 1000
    assert main(["ped2", "--download", "--out", str(out)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "run the same command again to resume" in errors[0]
    assert (out / "downloads" / "UCSD_Anomaly_Dataset.tar.gz.partial").stat().st_size == 1000
    main(["ped2", "--download", "--out", str(out)])
    assert mirror.ranges == [None, "bytes=1000-"]
    assert (out / "ped2" / "frame_labels_ped2.npy").is_file()


def test_a_checksum_mismatch_is_refused_and_nothing_is_prepared(tmp_path, mirror, monkeypatch,
                                                                  capsys) -> None:
    data = _ucsd_tarball(tmp_path)
    _publish(monkeypatch, mirror, "ped2", {"UCSD_Anomaly_Dataset.tar.gz": data}, sha256={
        "UCSD_Anomaly_Dataset.tar.gz": "0" * 64})
    out = tmp_path / "data"
    assert main(["ped2", "--download", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "SHA-256" in error and "is not the official " + "0" * 64 in error
    assert not (out / "ped2").exists()
    assert list((out / "downloads").iterdir()) == []  # the bad bytes are not kept for a later resume


def test_avenue_download_unpacks_videos_and_ground_truth_together(tmp_path, mirror, monkeypatch) -> None:
    release = avenue_release(tmp_path / "Avenue Dataset")
    videos, truth = tmp_path / "Avenue_Dataset.zip", tmp_path / "ground_truth_demo.zip"
    with zipfile.ZipFile(videos, "w") as z:  # the official layout: videos in one zip, masks in another
        for f in release.rglob("*.avi"):
            z.write(f, f.relative_to(tmp_path))
    with zipfile.ZipFile(truth, "w") as z:
        for f in (release / "ground_truth_demo").rglob("*.mat"):
            z.write(f, f.relative_to(release))
    _publish(monkeypatch, mirror, "avenue", {f.name: f.read_bytes() for f in (videos, truth)})
    out = tmp_path / "data"
    main(["avenue", "--download", "--out", str(out)])
    assert list_videos(out / "avenue" / "testing" / "frames").lengths == [6, 4]
    assert np.load(out / "avenue" / "frame_labels_avenue.npy")[0].tolist() == [0, 0, 1, 1, 0, 0, 1, 0, 0, 0]
    kept = sorted(p.name for p in (out / "downloads").iterdir())
    assert kept == sorted([truth.name, videos.name])  # the archives stay; the unpacked copy is gone


@pytest.mark.parametrize(("name", "says"), [
    ("shanghai", "--source <unpacked folder"), ("imagenet", "pseudo.source.root=<folder>")])
def test_no_direct_link_says_where_to_get_it(name, says, tmp_path, capsys) -> None:
    assert main([name, "--download", "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and says in error and len(error.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
