"""Per-family Python environments: build, list and check them (``sse-flows env``).

A family that cannot share the main environment (MACE pins e3nn 0.4.4; deepmd-kit
must be compiled against our torch; mattersim pulls CUDA torchvision) declares a
:class:`~sse_flows.potentials.family.FamilyEnvironment`. ``create_env`` builds it as
a venv under ``settings.envs_dir/<name>`` with the standard library's ``venv`` and
pip, so nothing beyond Python is needed; uv or conda would add a dependency and a
second resolver for no gain here.

Ready means: every step succeeded and the imports of ``env check`` work. Only then is
``sse-flows-env.json`` written (with the fingerprint of the declaration, so a changed
declaration rebuilds). A failed build keeps its ``build.log``, writes
``sse-flows-env-failed.json`` naming the step, and is never marked ready.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sse_flows.errors import EnvironmentBuildError, EnvironmentNotReadyError, SpecError
from sse_flows.potentials.catalog import families
from sse_flows.potentials.family import (
    TORCH_PIN,
    WORKER_PACKAGES,
    BuildStep,
    FamilyEnvironment,
    PotentialFamily,
)
from sse_flows.settings import SSEFlowsSettings, get_settings

READY_FILE = "sse-flows-env.json"
FAILED_FILE = "sse-flows-env-failed.json"
LOG_FILE = "build.log"
#: distributions whose versions `env list` reports besides the declared packages
REPORTED = ("torch", "e3nn", "ase", "numpy")


def known_environments() -> dict[str, FamilyEnvironment]:
    """Environment name -> declaration, from every family that declares one."""
    found: dict[str, FamilyEnvironment] = {}
    for family in families().values():
        if family.environment is not None:
            found.setdefault(family.environment.name, family.environment)
    return found


def environment(name: str) -> FamilyEnvironment:
    """Return a declared environment; an unknown name lists the known ones."""
    known = known_environments()
    if name not in known:
        raise SpecError(
            f"No model family needs an environment named '{name}'. Known: "
            f"{', '.join(sorted(known)) or 'none'}."
        )
    return known[name]


def env_dir(name: str, settings: SSEFlowsSettings | None = None) -> Path:
    """Folder of an environment (it need not exist)."""
    return (settings or get_settings()).resolved().envs_dir / name


def env_python(name: str, settings: SSEFlowsSettings | None = None) -> Path:
    """Absolute path of an environment's interpreter (it need not exist)."""
    return env_dir(name, settings) / "bin" / "python"


@dataclass
class EnvStatus:
    """What `sse-flows env list` reports for one environment."""

    name: str
    python: str
    ready: bool
    families: list[str]
    reason: str
    packages: dict[str, str | None] = field(default_factory=dict)
    built_at: str | None = None
    build_seconds: float | None = None
    failed_step: str | None = None
    log: str | None = None
    stale: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return dict(self.__dict__)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def env_status(name: str, settings: SSEFlowsSettings | None = None) -> EnvStatus:
    """Report one environment from its marker files (nothing is imported)."""
    declared = environment(name)
    folder = env_dir(name, settings)
    python = env_python(name, settings)
    marker = _read_json(folder / READY_FILE)
    failed = _read_json(folder / FAILED_FILE)
    stale = marker is not None and marker.get("fingerprint") != declared.fingerprint()
    ready = bool(marker) and not stale and python.exists()
    return EnvStatus(
        name=name,
        python=str(python),
        ready=ready,
        families=sorted(
            f.name
            for f in families().values()
            if f.environment is not None and f.environment.name == name
        ),
        reason=declared.reason,
        packages=dict(marker.get("packages", {})) if marker else {},
        built_at=marker.get("built_at") if marker else None,
        build_seconds=marker.get("build_seconds") if marker else None,
        failed_step=failed.get("step") if failed and not ready else None,
        log=str(folder / LOG_FILE) if (folder / LOG_FILE).exists() else None,
        stale=stale,
    )


def list_envs(settings: SSEFlowsSettings | None = None) -> list[EnvStatus]:
    """Every declared environment, built or not."""
    return [env_status(name, settings) for name in sorted(known_environments())]


def require_env(family: PotentialFamily, settings: SSEFlowsSettings | None = None) -> Path:
    """Return the interpreter of a family's ready environment, or say how to build it."""
    declared = family.environment
    if declared is None:  # pragma: no cover - callers check
        raise EnvironmentNotReadyError(f"Potential '{family.name}' has no environment.")
    status = env_status(declared.name, settings)
    if status.ready:
        return Path(status.python)
    why = (
        f"its last build failed at step '{status.failed_step}' (log: {status.log})"
        if status.failed_step
        else "it was built from an older declaration"
        if status.stale
        else "it is not built here"
    )
    raise EnvironmentNotReadyError(
        f"Potential '{family.name}' runs in its own environment '{declared.name}' "
        f"({declared.reason}), and {why}. run: sse-flows env create {declared.name}"
    )


# ------------------------------------------------------------------ building
def _steps(declared: FamilyEnvironment) -> list[BuildStep]:
    """Return the whole build: pip, the worker's and family's packages, then extras."""
    return [
        BuildStep(name="upgrade pip", args=("install", "--upgrade", "pip")),
        BuildStep(
            name=f"install {', '.join(declared.packages) or 'worker packages'}",
            args=("install", TORCH_PIN, *WORKER_PACKAGES, *declared.packages),
        ),
        *declared.steps,
    ]


def _run_step(step: BuildStep, python: Path, constraints: Path, log: Path) -> None:
    """Run one pip step, appending its output to the log; raise on failure."""
    argv = [str(python), "-m", "pip", *step.args]
    if step.args and step.args[0] == "install":
        argv += ["-c", str(constraints), "--progress-bar", "off"]
    env = {
        **os.environ,
        **dict(step.env),
        "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "VIRTUAL_ENV": str(python.parent.parent),
    }
    with log.open("a") as out:
        out.write(f"\n=== {step.name}: {' '.join(argv)}\n")
        out.flush()
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    if done.returncode != 0:
        raise EnvironmentBuildError(
            f"step '{step.name}' failed (exit {done.returncode}); see {log}"
        )


def installed_versions(python: Path, names: list[str]) -> dict[str, str | None]:
    """Versions of distributions inside an environment (None: not installed)."""
    code = (
        "import json, sys\n"
        "from importlib.metadata import version, PackageNotFoundError\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = version(n)\n"
        "    except PackageNotFoundError: out[n] = None\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [str(python), "-c", code, *names], capture_output=True, text=True, check=True
    )
    return dict(json.loads(done.stdout))


def _distribution(requirement: str) -> str:
    for mark in "<>=!~[; ":
        requirement = requirement.split(mark)[0]
    return requirement


def check_env(name: str, settings: SSEFlowsSettings | None = None) -> dict[str, Any]:
    """Import an environment's modules in its own interpreter; raise with the fix.

    Returns the package versions. Works on a built environment whether or not it is
    marked ready (``create_env`` calls it before marking).
    """
    declared = environment(name)
    python = env_python(name, settings)
    if not python.exists():
        raise EnvironmentNotReadyError(
            f"Environment '{name}' is not built ({python} missing). "
            f"run: sse-flows env create {name}"
        )
    modules = ["numpy", "ase", "pydantic", "pydantic_settings", "yaml", *declared.imports]
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    done = subprocess.run(
        [str(python), "-c", code, *modules],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ""},
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise EnvironmentNotReadyError(
            f"Environment '{name}' cannot import its packages:\n{tail}\n"
            f"Rebuild it: sse-flows env create {name} --force"
        )
    served = {
        f.package
        for f in families().values()
        if f.environment is not None and f.environment.name == name
    }
    names = sorted(
        {_distribution(p) for p in (*declared.packages, *WORKER_PACKAGES)}
        | set(REPORTED)
        | served
    )
    return installed_versions(python, names)


def record_versions(
    name: str, versions: dict[str, Any], settings: SSEFlowsSettings | None = None
) -> None:
    """Update the package versions of a ready environment's marker (after a check)."""
    marker_path = env_dir(name, settings) / READY_FILE
    marker = _read_json(marker_path)
    if marker is not None:
        marker["packages"] = versions
        marker_path.write_text(json.dumps(marker, indent=1))


def create_env(
    name: str,
    settings: SSEFlowsSettings | None = None,
    force: bool = False,
    say: Callable[[str], None] = print,
) -> EnvStatus:
    """Build an environment (nothing to do when it is ready and current)."""
    declared = environment(name)
    status = env_status(name, settings)
    if status.ready and not force:
        say(f"environment '{name}' is ready ({status.python}); nothing to do")
        return status
    folder = env_dir(name, settings)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    log = folder / LOG_FILE
    constraints = folder / "constraints.txt"
    constraints.write_text(f"{TORCH_PIN}\n")
    start = time.perf_counter()
    step_name = "create the venv"
    try:
        say(f"[{name}] {step_name} ({sys.executable} -m venv)")
        with log.open("a") as out:
            done = subprocess.run(
                [sys.executable, "-m", "venv", str(folder)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if done.returncode != 0:
            raise EnvironmentBuildError(f"step '{step_name}' failed; see {log}")
        python = folder / "bin" / "python"
        for step in _steps(declared):
            step_name = step.name
            say(f"[{name}] {step.name}")
            _run_step(step, python, constraints, log)
        step_name = "check imports"
        say(f"[{name}] {step_name}")
        versions = check_env(name, settings)
    except (EnvironmentBuildError, EnvironmentNotReadyError, OSError) as exc:
        failure = {"step": step_name, "error": str(exc)}
        (folder / FAILED_FILE).write_text(json.dumps(failure))
        raise EnvironmentBuildError(
            f"Building environment '{name}' failed at step '{step_name}': {exc}. "
            f"The log is kept at {log}; the environment is not marked ready."
        ) from exc
    marker = {
        "name": name,
        "fingerprint": declared.fingerprint(),
        "python": str(python),
        "packages": versions,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "build_seconds": round(time.perf_counter() - start, 1),
    }
    (folder / READY_FILE).write_text(json.dumps(marker, indent=1))
    say(f"[{name}] ready in {marker['build_seconds']} s: {python}")
    return env_status(name, settings)
