"""``NNR_NO_MYPYC=1 pip install .`` in a tree whose build/ holds compiled modules from an earlier
build must not ship them (they would shadow the .py files): setup.py's build_py removes them."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(not os.path.isfile(os.path.join(ROOT, "setup.py")), reason="needs the source tree")
def test_pure_wheel_ships_no_stale_compiled_modules(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv*", ".git", "build", "dist", "*.egg-info",
                                                            "__pycache__", "*.so", "bitstreams", ".hypothesis"))
    stale = src / "build" / "lib" / "nnr" / "cabac"
    stale.mkdir(parents=True)
    (stale / "engine.cpython-311-x86_64-linux-gnu.so").write_bytes(b"stale")
    (src / "build" / "lib" / "0123__mypyc.cpython-311-x86_64-linux-gnu.so").write_bytes(b"stale")
    env = dict(os.environ, NNR_NO_MYPYC="1")
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "w"), str(src)],
                       capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    (wheel,) = list((tmp_path / "w").glob("nnr-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "nnr/cabac/arith_decoder.py" in names
    assert [n for n in names if n.endswith((".so", ".pyd"))] == []
