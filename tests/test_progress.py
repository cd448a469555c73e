"""Progress bars: the codebook search advances within its tensor; ``nnr encode`` and ``nnr
conformance`` draw a bar on a terminal (a fake TTY here) and nothing elsewhere.

Expected outputs are rendered here from the bar's documented format (``\\r<label> [###...] pct%``,
a newline at 100%, the line erased before a conformance table row), not by nnr's ProgressBar.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest

import nnr
from nnr.cli import main as cli_main
from nnr.encoding import EncodeSettings, compress
from nnr.encoding.approx import _codebook_of
from nnr.encoding.inputs import prepare_tensors

REPO = Path(__file__).resolve().parent.parent
WIDTH = 30


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def render(label: str, fractions: list[tuple[int, int]]) -> str:
    """What a bar shows for these (done, total) calls: a redraw per new percentage."""
    out, last = [], -1
    for done, total in fractions:
        pct = 100 * done // total
        if pct == last:
            continue
        last = pct
        fill = WIDTH * pct // 100
        out.append(f"\r{label} [{'#' * fill}{'.' * (WIDTH - fill)}] {pct:3d}%" + ("\n" if done >= total else ""))
    return "".join(out)


def weight(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.05, (16, 24)).astype(np.float32)


def codebook_size(data: bytes) -> int:
    """Entries of the stream's codebook, as the decoder reads them."""
    ds = nnr.Decoder().decode_stream(data)
    (t,) = [t for u in ds.units for t in u.tensors]
    assert t.codebook is not None
    return len(t.codebook.codebook)


def test_codebook_search_steps() -> None:
    levels = np.random.default_rng(1).integers(-9, 10, (12, 10)).astype(np.int32)
    calls: list[tuple[int, int]] = []
    _codebook_of(levels, 10, lambda i, k: calls.append((i, k)))
    k = len(np.unique(levels))
    assert calls == [(i, k) for i in range(k)]


def test_encode_progress_within_a_codebook_tensor() -> None:
    """One tensor of n elements, total 2n (quantized, then coded): the codebook search reports
    n*i//K before each of its K candidates, then the tensor is done (n), then coded (2n)."""
    w = weight()
    calls: list[tuple[int, int]] = []
    res, _ = compress(prepare_tensors({"w": w}), EncodeSettings.from_kwargs({"codebook_mode": 1}),
                      progress=lambda d, t: calls.append((d, t)))
    n, k = w.size, codebook_size(res.data)
    assert k > 10
    assert calls == [(n * i // k, 2 * n) for i in range(k)] + [(n, 2 * n), (2 * n, 2 * n)]


def test_cli_encode_bar_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = weight()
    src = tmp_path / "w.npz"
    np.savez(src, w=w)
    out = tmp_path / "w.nnc"
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    # a codebook search shows the bar on a terminal however small the checkpoint
    assert cli_main(["encode", str(src), "-o", str(out), "--codebook", "1", "-q"]) == 0
    n, k = w.size, codebook_size(out.read_bytes())
    expect = render("encoding", [(n * i // k, 2 * n) for i in range(k)] + [(n, 2 * n), (2 * n, 2 * n)])
    assert tty.getvalue() == expect
    assert 10 < expect.count("\r") <= 100  # it advanced within the tensor, one redraw per percent
    # not on a terminal, or --no-progress: nothing
    plain = io.StringIO()
    monkeypatch.setattr(sys, "stderr", plain)
    assert cli_main(["encode", str(src), "-o", str(out), "--codebook", "1", "-q"]) == 0
    tty2 = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty2)
    assert cli_main(["encode", str(src), "-o", str(out), "--codebook", "1", "-q", "--no-progress"]) == 0
    assert plain.getvalue() == "" and tty2.getvalue() == ""


def test_cli_conformance_bar(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The bar counts cases; it is erased before each table row (stdout may be the same terminal)."""
    names = sorted(p.name for p in (REPO / "bitstreams").iterdir() if p.name.startswith("BITDEPTH"))
    assert len(names) == 4
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    assert cli_main(["conformance", str(REPO / "bitstreams"), *(a for n in names for a in ("-k", n))]) == 0
    erase = "\r" + " " * (len("conformance") + WIDTH + 8) + "\r"
    expect = ""
    for i in range(1, 5):
        if i > 1:
            expect += erase
        expect += render("conformance", [(i, 4)])
    assert tty.getvalue() == expect
    rows = capsys.readouterr().out.splitlines()
    assert [r.split()[0] for r in rows[1:5]] == names and rows[-1] == "4 passed, 0 failed"
    for flag, stream in (("--no-progress", FakeTTY()), ("--progress", io.StringIO())):
        monkeypatch.setattr(sys, "stderr", stream)
        assert cli_main(["conformance", str(REPO / "bitstreams"), "-k", "BITDEPTH8_A", flag]) == 0
        assert stream.getvalue() == ("" if flag == "--no-progress" else render("conformance", [(1, 1)]))
