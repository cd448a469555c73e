import os
import sys

# Tests run against the source tree (a compiled copy may also be installed).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.environ.get("NNR_TEST_INSTALLED") != "1":
    sys.path.insert(0, ROOT)
