"""Many short commands at the price of one start-up: a server process imports torch, Lightning and lnra
once (10-25 s per process on the shared test machine), then forks one child per command, each with its
own argv, environment, stdout, stderr and exit code. ``run_in_subprocess`` runs the same request as a
plain process, for checking that the fork changes nothing.

A command can be started and waited for apart (``start``: its process id, to send it a signal), and each
child can first call functions of ``helpers`` (``setup``: run without root's permission override, hold
still at a point of the run)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from helpers.paths import REPO
from helpers.runner import child_env

# The server imports everything once, then forks one child per request line (JSON) on stdin.
_SERVER = r"""
import importlib, json, os, runpy, sys, time, traceback
sys.path.insert(0, sys.argv[1])  # tests/: the children's setup functions are in helpers
import lnra.run.tasks, lnra.tools.detect, lnra.tools.export, lnra.tools.report  # the slow part, done once
print("ready", flush=True)
for line in sys.stdin:
    req = json.loads(line)
    t0 = time.monotonic()
    sys.stdout.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.dup2(os.open(req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 1)
            os.dup2(os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
            os.environ.clear(); os.environ.update(req["env"])
            for module, function, args in req["setup"]:
                getattr(importlib.import_module(module), function)(*args)
            sys.argv = req["argv"]
            if req["module"]:
                runpy.run_module(req["module"], run_name="__main__", alter_sys=True)
            else:
                runpy.run_path(req["argv"][0], run_name="__main__")
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (exit_.code is not None)
            if isinstance(exit_.code, str):
                print(exit_.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush(); sys.stderr.flush()
            os._exit(code)
    print(json.dumps({"pid": pid}), flush=True)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"rc": os.waitstatus_to_exitcode(status), "seconds": time.monotonic() - t0}), flush=True)
"""


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str
    seconds: float


def _command(args: list[str], module: str | None) -> list[str]:
    return [str(REPO / "run.py"), *args] if module is None else [module, *args]


Setup = tuple[str, str, list]  # (module, function, arguments) a child calls before its command


@dataclass
class Started:
    """A command running in a child of the server: its process id, and ``wait()`` for its result."""

    pid: int
    server: ForkServer
    out: Path
    err: Path

    def wait(self) -> Result:
        reply = json.loads(self.server.proc.stdout.readline())
        return Result(reply["rc"], self.out.read_text(), self.err.read_text(), reply["seconds"])


class ForkServer:
    """``run(args, module=None, env=None)``: ``run.py <args>``, or ``python -m <module> <args>``."""

    def __init__(self, logs: Path) -> None:
        self.logs, self.count = logs, 0
        server = [sys.executable, "-c", _SERVER, str(REPO / "tests")]
        self.proc = subprocess.Popen(server, cwd=REPO, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=child_env())
        assert self.proc.stdout.readline().strip() == "ready"

    def start(self, args: list[str], module: str | None = None, env: dict[str, str] | None = None,
              setup: list[Setup] | None = None) -> Started:
        """Start the command (one at a time: ``wait()`` for it before the next)."""
        self.count += 1
        out, err = self.logs / f"{self.count}.out", self.logs / f"{self.count}.err"
        request = {"argv": _command(args, module), "module": module, "env": child_env(env),
                   "stdout": str(out), "stderr": str(err), "setup": setup or []}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return Started(json.loads(self.proc.stdout.readline())["pid"], self, out, err)

    def run(self, args: list[str], module: str | None = None, env: dict[str, str] | None = None,
            setup: list[Setup] | None = None) -> Result:
        return self.start(args, module, env, setup).wait()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def run_in_subprocess(args: list[str], module: str | None = None,
                      env: dict[str, str] | None = None) -> Result:
    """What ``ForkServer.run`` does, as a plain process of its own."""
    t0 = time.monotonic()
    cmd = [sys.executable, *(["-m"] if module else []), *_command(args, module)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=child_env(env), timeout=600)
    return Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)
