"""nnr.fl on Flower's deployment engine: a SuperLink and two SuperNodes on 127.0.0.1.

The test starts ``flower-superlink`` (insecure, no runtime dependency installation: nnr is not on
the package index) and two ``flower-supernode`` processes, submits examples/fl_digits with
``flwr run`` and compares what the ServerApp wrote with the in-process run of the same app:
same accuracies, same bytes.  ClientApps run in a fresh process per message here, so this also
proves the client state survives in ``context.state``.  After round 2 the test stops one
SuperNode and starts it again (its state is gone; the SuperLink gives it a new node id): round 3
brings it back with every downstream stream, counted.  Every process is stopped, always.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from extras import require, require_program

require("flwr")

from fl_harness import EXAMPLE  # noqa: E402
from test_fl import run_local  # noqa: E402

BIN = Path(sys.executable).parent
DEADLINE = 300.0  # seconds for the whole federation

# the example's ServerApp, pausing after round 2 until the test has restarted a SuperNode
RESTART_SERVER = """
import json, os, time
from flwr.serverapp import ServerApp
from digits_app import server_app

app = ServerApp()


@app.main()
def main(grid, context):
    marks = str(context.run_config["marks"])

    def on_round(r):
        open(os.path.join(marks, f"round{r}"), "w").close()
        until = time.monotonic() + 120
        while r == 2 and not os.path.exists(os.path.join(marks, "resume")) and time.monotonic() < until:
            time.sleep(0.2)

    out = server_app.run(grid, num_rounds=3, on_round=on_round)
    with open(str(context.run_config["result-path"]), "w") as f:
        json.dump(out, f)
"""


def _program(name: str) -> str:
    p = BIN / name
    return require_program(str(p) if p.exists() else shutil.which(name), name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, until: float, proc: subprocess.Popen[Any]) -> None:
    while time.monotonic() < until and proc.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} (exit status {proc.poll()})")


def _stop(procs: list[subprocess.Popen[Any]]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=15)


def test_deployment_engine(tmp_path: Path) -> None:
    superlink, supernode, flwr_cli = _program("flower-superlink"), _program("flower-supernode"), _program("flwr")
    home = tmp_path / "flwr-home"
    home.mkdir()
    link_port = _free_port()
    # the SuperLink and SuperNodes start flower-superexec / flwr-serverapp / flwr-clientapp by name
    env = {**os.environ, "FLWR_HOME": str(home), "PYTHONUNBUFFERED": "1",
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "nnr-local"\n\n[superlink.nnr-local]\naddress = "127.0.0.1:{link_port}"\n'
        "insecure = true\n")
    app = tmp_path / "app"
    shutil.copytree(EXAMPLE, app, ignore=shutil.ignore_patterns("__pycache__", "*.png", "*.json"))
    (app / "digits_app" / "restart_server.py").write_text(RESTART_SERVER)
    toml = app / "pyproject.toml"
    toml.write_text(toml.read_text().replace("digits_app.server_app:app", "digits_app.restart_server:app")
                    + 'marks = ""\n')
    marks = tmp_path / "marks"
    marks.mkdir()
    result = tmp_path / "result.json"
    procs: list[subprocess.Popen[Any]] = []
    logs = []

    def start(name: str, args: list[str]) -> None:
        log = open(tmp_path / f"{name}.log", "wb")
        logs.append((name, tmp_path / f"{name}.log"))
        procs.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
                                      start_new_session=True))

    until = time.monotonic() + DEADLINE
    try:
        start("superlink", [superlink, "--insecure", "--disable-runtime-dependency-installation",
                            "--host", "127.0.0.1", "--port", str(link_port)])
        _wait_port(link_port, min(until, time.monotonic() + 60), procs[0])
        def supernode_(i: int, name: str) -> None:
            start(name, [supernode, "--insecure", "--superlink", f"127.0.0.1:{link_port}", "--port", str(_free_port()),
                         "--node-config", f"partition-id={i} num-partitions=2"])

        for i in range(2):
            supernode_(i, f"supernode{i}")
        run = subprocess.Popen(
            [flwr_cli, "run", str(app), "nnr-local", "--stream", "--run-config", f"result-path='{result}' marks='{marks}'"],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        procs.append(run)
        while not (marks / "round2").exists() and time.monotonic() < until and run.poll() is None:
            time.sleep(0.3)
        assert (marks / "round2").exists(), "the federation did not reach round 2"
        _stop([procs[2]])  # SuperNode 1 goes away with its state ...
        supernode_(1, "supernode1-restarted")  # ... and comes back
        (marks / "resume").touch()
        while not result.exists() and time.monotonic() < until:
            time.sleep(0.5)
        assert result.exists(), "the ServerApp wrote no result\n" + \
            "".join(f"\n--- {n}\n" + p.read_text(errors="replace")[-3000:] for n, p in logs)
    finally:
        _stop(procs)
    assert all(p.poll() is not None for p in procs)
    got = json.loads(result.read_text())
    ref, strat, _ = run_local(3, fraction_evaluate=0.0)
    assert got["failures"] == []
    assert got["accuracy"][:2] == ref["accuracy"][:2]
    strip = lambda c: {k: v for k, v in c.items() if k != "client_seconds"}  # noqa: E731
    assert [strip(c) for c in got["communication"][:2]] == [strip(c) for c in ref["communication"][:2]]
    # round 3: the node that kept its state gets stream 2, the restarted one streams 0-2
    s = [len(b) for b in strat.streams]
    assert got["streams"][:3] == s[:3]
    assert got["communication"][2]["down_bytes"] == s[2] + s[0] + s[1] + s[2]
    assert got["accuracy"][2] > 0.5
