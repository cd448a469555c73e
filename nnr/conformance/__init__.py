"""The conformance suite's library side: cases (:mod:`.cases`), running them (:mod:`.runner`),
coverage (:mod:`.coverage`).  The command line ``nnr conformance`` is :mod:`nnr.cli.conformance`."""

from nnr.conformance.cases import (
    Case,
    CaseFormatError,
    ExpectedError,
    ExpectedTensor,
    decoder_options,
    load_case,
    load_cases,
)
from nnr.conformance.coverage import Coverage, ElementCoverage, compute_coverage, parse_features, print_coverage
from nnr.conformance.runner import (
    EXTERNAL_TIMEOUT,
    CaseResult,
    SuiteResult,
    compare_stream,
    external_command,
    run_case,
    run_suite,
    tensor_sha256,
)

__all__ = [
    "EXTERNAL_TIMEOUT", "Case", "CaseFormatError", "CaseResult", "Coverage", "ElementCoverage", "ExpectedError",
    "ExpectedTensor", "SuiteResult", "compare_stream", "compute_coverage", "decoder_options", "external_command",
    "load_case", "load_cases", "parse_features", "print_coverage", "run_case", "run_suite", "tensor_sha256",
]
