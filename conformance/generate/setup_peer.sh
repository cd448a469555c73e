#!/usr/bin/env bash
# setup_peer.sh -- create the NNCodec 2.1.3 virtualenv used by conformance/generate/generate.py
# (the "peer": Fraunhofer HHI's reference implementation of ISO/IEC 15938-17, PyPI "nncodec").
#
#   usage: conformance/generate/setup_peer.sh [VENV_DIR]
#          (default $NNCODEC_VENV or ~/.cache/nnr-peer/nnc-venv)
#   then:  VENV_DIR/bin/python conformance/generate/generate.py --check
#
# Based on the project's /work/shared/peer/install_nncodec.sh (same pins, same steps).
# CPU-only, without torchvision and without OpenCV.
#
# Idempotent: re-running keeps what is already correct (pip sees the pins are
# satisfied; nncodec is rebuilt only if missing or not importable; the stub
# files are rewritten with identical content).
#
# Why it is done this way
#  * nncodec's install_requires pulls torch>=2, torchvision, opencv-python,
#    torchmetrics, ptflops, click ...; with no torch present pip would fetch a
#    multi-GB CUDA torch.  We install torch==2.13.0 (a CPU wheel) first, then
#    nncodec with --no-deps.
#  * nncodec needs numpy<2.
#  * Importing nncodec.tensor / nncodec.nn / nncodec.nnc goes through
#    nncodec.nnc.compression -> nncodec.framework.{pytorch_model,
#    tensorflow_model,use_case_init} -> nncodec.framework.applications.*,
#    which import at module level: torch, pandas, sklearn.metrics, h5py, tqdm,
#    torchvision (datasets, transforms) and cv2.  None of them is used when
#    coding a tensor or a parameter dict.  pandas, scikit-learn, h5py and tqdm
#    are installed for real.  torchvision from PyPI does not import beside the
#    CPU torch 2.13.0 ("operator torchvision::nms does not exist"), and OpenCV
#    is unwanted, so the script writes two import-only stand-ins
#    (VENV/nncodec_import_stubs/{torchvision,cv2}) and puts that folder at the
#    END of sys.path through a .pth file: a real torchvision/cv2 installed into
#    the venv later takes precedence.  Any actual use of a stub raises.
#    Only nncodec's dataset loaders / image transforms / torchvision-model
#    paths (training, LSA, IOQ, evaluation) would need the real packages.
#  * nncodec.nnc_core alone (numpy + the deepCABAC extension) imports without
#    torch or any of the above.
#  * The golden vectors do not depend on torch (only nncodec's import chain
#    needs it); they depend on numpy (1.26.4) and on the nncodec 2.1.3 sources
#    (deepCABAC C++ extension built from the sdist).
set -euo pipefail

VENV="${1:-${NNCODEC_VENV:-$HOME/.cache/nnr-peer/nnc-venv}}"
mkdir -p "$(dirname "$VENV")"
PY="${PYTHON:-python3}"

# Pinned versions (the set this harness was built and verified with).
TORCH_PIN="torch==2.13.0"          # CPU build, cp311, a wheel on this machine kind's disk
NUMPY_PIN="numpy==1.26.4"          # nncodec requires numpy<2
NNCODEC_PIN="nncodec==2.1.3"
BUILD_PINS=(pybind11==3.1.0 setuptools==84.2.1 wheel==0.48.0)
IMPORT_DEPS=(pandas==3.0.6 scikit-learn==1.9.1 scipy==1.17.1 h5py==3.16.0 tqdm==4.70.1)

"$PY" - <<'EOF'
import sys
if sys.version_info[:2] != (3, 11):
    sys.exit(f"install_nncodec.sh: needs Python 3.11 (the torch 2.13.0 CPU wheel is cp311); got {sys.version.split()[0]}")
EOF

if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating venv $VENV"
    "$PY" -m venv "$VENV"
else
    echo "== venv $VENV exists"
fi
VPY="$VENV/bin/python"
PIP=("$VPY" -m pip --disable-pip-version-check)

# Filter pip's noise about this machine's local index mirrors.
quiet() { grep -v "is ignored: it is neither a file nor a directory" || true; }

echo "== torch (CPU) + numpy<2"
# torch and numpy in ONE resolver run, pinned exactly, so nothing can drag in
# another torch build.
"${PIP[@]}" install -q "$TORCH_PIN" "$NUMPY_PIN" 2>&1 | quiet

echo "== build tools + modules imported by nncodec at import time"
"${PIP[@]}" install -q "$TORCH_PIN" "$NUMPY_PIN" "${BUILD_PINS[@]}" "${IMPORT_DEPS[@]}" 2>&1 | quiet

if "$VPY" -c "import nncodec.extensions.deepCABAC, importlib.metadata as m; assert m.version('nncodec')=='2.1.3'" >/dev/null 2>&1; then
    echo "== nncodec 2.1.3 already installed"
else
    echo "== building nncodec 2.1.3 from the sdist (C++ deepCABAC extension; ~2-3 min on 2 cores)"
    # --no-deps: do not pull torchvision/opencv/another torch.
    # --no-build-isolation: build with the pinned pybind11/setuptools above.
    "${PIP[@]}" install -q --no-deps --no-build-isolation --no-binary nncodec "$NNCODEC_PIN" 2>&1 | quiet
fi

echo "== import-only stubs for torchvision and cv2"
STUBS="$VENV/nncodec_import_stubs"
mkdir -p "$STUBS/torchvision" "$STUBS/cv2"

cat > "$STUBS/_nncodec_stub_common.py" <<'EOF'
"""Shared helper of the import-only stand-ins written by install_nncodec.sh."""


class Unavailable:
    """Placeholder for any torchvision/cv2 object.

    Construction must succeed because nncodec builds
    ``transforms.Compose([...])`` and subclasses ``datasets.ImageFolder`` at
    import time; calling an instance raises.
    """

    _stub_of = "?"

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        raise RuntimeError(
            f"{self._stub_of} is an import-only stub installed for NNCodec "
            "(install_nncodec.sh); the real package is not installed in this venv")


def make_getattr(modname):
    cache = {}

    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in cache:
            cache[name] = type(name, (Unavailable,), {"_stub_of": f"{modname}.{name}"})
        return cache[name]

    return __getattr__
EOF

cat > "$STUBS/torchvision/__init__.py" <<'EOF'
"""Import-only stand-in for torchvision (written by install_nncodec.sh).

NNCodec 2.1.3 imports torchvision.datasets / torchvision.transforms at module
level (dataset loaders, ImageNet transforms) although coding tensors or
parameter dicts never uses them.  Any real use raises RuntimeError.
"""
IS_NNCODEC_IMPORT_STUB = True
__version__ = "0+nncodec.import.stub"
from _nncodec_stub_common import make_getattr as _mg
from . import datasets, transforms  # noqa: E402,F401
__getattr__ = _mg("torchvision")
EOF

for sub in datasets transforms models; do
cat > "$STUBS/torchvision/$sub.py" <<EOF
"""Import-only stand-in for torchvision.$sub (written by install_nncodec.sh)."""
IS_NNCODEC_IMPORT_STUB = True
from _nncodec_stub_common import make_getattr as _mg
__getattr__ = _mg("torchvision.$sub")
EOF
done

cat > "$STUBS/cv2/__init__.py" <<'EOF'
"""Import-only stand-in for OpenCV's cv2 (written by install_nncodec.sh).

NNCodec 2.1.3 imports cv2 at module level in
nncodec/framework/applications/utils/transforms.py (TensorFlow image
pre-processing).  Any attribute use raises.
"""
IS_NNCODEC_IMPORT_STUB = True
__version__ = "0+nncodec.import.stub"


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise AttributeError(
        f"cv2.{name}: cv2 is an import-only stub installed for NNCodec "
        "(install_nncodec.sh); OpenCV is not installed in this venv")
EOF

SITE=$("$VPY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
# 'zz' so it is processed after other .pth files; the folder is appended to
# sys.path, i.e. after site-packages.
echo "$STUBS" > "$SITE/zz_nncodec_import_stubs.pth"

echo "== verifying"
"$VPY" - <<'EOF'
import importlib.metadata as md
import numpy as np, torch, torchvision, cv2
from nncodec.tensor import encode, decode
import nncodec.nn  # noqa: F401
assert md.version("nncodec") == "2.1.3", md.version("nncodec")
assert np.__version__.startswith("1."), np.__version__
assert not torch.cuda.is_available() or True
rng = np.random.RandomState(0)
x = rng.randn(64, 32).astype(np.float32)
bs = encode(x, {"qp": -32, "use_dq": True, "tensor_id": "0", "verbose": False, "results": __import__("tempfile").gettempdir()})
y = decode(bs, "0")
err = float(np.max(np.abs(y - x)))
assert y.shape == x.shape and err < 0.05, (y.shape, err)
print(f"ok: python {__import__('sys').version.split()[0]}, numpy {np.__version__}, "
      f"torch {torch.__version__}, nncodec {md.version('nncodec')}, "
      f"torchvision stub={getattr(torchvision, 'IS_NNCODEC_IMPORT_STUB', False)}, "
      f"cv2 stub={getattr(cv2, 'IS_NNCODEC_IMPORT_STUB', False)}; "
      f"64x32 float32 -> {len(bs)} bytes, max abs err {err:.4g}")
EOF

echo "== done: run the generator with"
echo "   $VENV/bin/python conformance/generate/generate.py --check"
