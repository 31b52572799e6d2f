"""Wall time per epoch of training through TrainMaker against each package's own trainer.

For each family the same frames (EMT-labelled Cu-Au, 8 atoms, from
``tests.tiny_models.alloy_frames``; one fixed split by structure, written once as
``train.extxyz`` / ``valid.extxyz``) are trained in two arms, each run a fresh process:

- ``maker``: ``TrainMaker(potential=..., settings=TrainSettings(...)).make(train,
  held_out={"valid": valid})`` run by ``jobflow.run_locally`` (``MemoryStore``,
  ``create_folders=True``), i.e. the real job: parent measured, energy offsets fitted,
  the family's trainer, the new model evaluated on every split, plots, model.json
  (DeePMD also freezes, compresses and checks the compressed model).
- ``direct``: the package's own trainer on the same frames and hyper-parameters:
  CHGNet ``chgnet.trainer.Trainer`` on ``train.extxyz`` / ``valid.extxyz``
  (``StructureData`` + ``get_loader``, one ``trainer.train`` call for all epochs);
  SevenNet the ``sevenn train input.yaml`` CLI; MACE ``mace_run_train`` (MACE env);
  DeePMD ``dp --pt train input.json`` (DeePMD env). The input.yaml, argv and
  input.json are the ones the trainer wrote in an untimed warm-up maker run (reading
  the split files and, for dp, the npy systems that run wrote from the same frames),
  with only the epoch count changed (dp: ``numb_steps`` and the decay interval). The
  script checks that every timed maker run wrote exactly that configuration (paths
  aside), so the arms train alike; their final validation errors agree to the digit.

Per-epoch time by differencing: each arm runs with E1 and E2 epochs and the figure is
``(t(E2) - t(E1)) / (E2 - E1)``, so fixed costs (interpreter start, imports, model and
parent loading, TrainMaker's parent measurement and final evaluation, dp's
freeze/compress, environment start-up) cancel. Those fixed costs are reported
separately as ``t_maker(E1) - t_direct(E1)``: the ratio says nothing about them.
Reported for wall time, CPU time (the process and its children; less disturbed by
other load) and, for SevenNet, MACE and DeePMD, the training time the package's own
log shows (``tool_s``: the training loop alone, free of the noise of the fixed costs,
which is large against a cheap epoch: 13-45 s around a 0.4-0.8 s MACE/dp epoch).
The runs alternate (maker E1, direct E1, maker E2, direct E2; reversed on the next
repetition) so drift of a shared machine hits both arms; medians are reported, and the
per-epoch ratio also per repetition (paired). Target: ratio <= 1.05 for each family.

CHGNet and SevenNet fine-tune their shipped parents (0.3.0, 7net-0); MACE and DeePMD
train small models from scratch (no foundation weights here).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_train.py
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import ROOT, git_state, package_version, write_results

REPO = ROOT.parent
VENV_BIN = Path(sys.executable).parent
FAMILIES = ("chgnet", "sevennet", "mace", "deepmd")
#: (E1, E2) per family: E2 - E1 epochs carry the per-epoch figure
EPOCHS = {"chgnet": (1, 3), "sevennet": (1, 3), "mace": (2, 17), "deepmd": (2, 62)}
#: hyper-parameters of both arms (TrainSettings fields; no learning_rate: the family's)
COMMON = {
    "batch_size": 4,
    "seed": 0,
    "device": "cpu",
    "energy_weight": 1.0,
    "force_weight": 10.0,
    "stress_weight": 0.1,
}
SETTINGS: dict[str, dict[str, Any]] = {
    "chgnet": {**COMMON, "learning_rate": 2e-3},
    "sevennet": {**COMMON, "learning_rate": 1e-3},
    "mace": {**COMMON, "from_scratch": True},
    "deepmd": {**COMMON, "from_scratch": True},
}

MAKER_SCRIPT = """
import json, sys
from jobflow import JobStore, run_locally
from maggma.stores import MemoryStore
from sse_flows.makers.training import TrainMaker
from sse_flows.training.settings import TrainSettings
potential, settings, train, valid, root = sys.argv[1:6]
maker = TrainMaker(potential=potential, settings=TrainSettings(**json.loads(settings)))
job = maker.make(train, held_out={"valid": valid})
responses = run_locally(job, store=JobStore(MemoryStore()), create_folders=True,
                        root_dir=root, ensure_success=True, log=False)
doc = responses[job.uuid][1].output
doc = doc if isinstance(doc, dict) else doc.model_dump(mode="json")
last = doc["learning_curve"][-1]
print(json.dumps({"workdir": doc["workdir"], "epochs_run": doc["epochs_run"],
                  "valid_force_mae_meV_A": last["valid_force_mae_meV_A"]}))
"""

CHGNET_SCRIPT = """
import json, sys
import torch
from ase import units
from ase.io import read
from chgnet.data.dataset import StructureData, get_loader
from chgnet.model import CHGNet
from chgnet.trainer import Trainer
from pymatgen.io.ase import AseAtomsAdaptor
train_file, valid_file, settings, folder = sys.argv[1:5]
s = json.loads(settings)

def loader(path):
    frames = read(path, index=":")
    data = StructureData(
        structures=[AseAtomsAdaptor.get_structure(a) for a in frames],
        energies=[a.get_potential_energy() / len(a) for a in frames],
        forces=[a.get_forces().tolist() for a in frames],
        # CHGNet: kBar, compressive positive; ASE: eV/A^3, tensile positive
        stresses=[(a.get_stress(voigt=False) / units.GPa * -10).tolist() for a in frames],
        shuffle=False,
    )
    return get_loader(data, batch_size=s["batch_size"], pin_memory=False)

train, valid = loader(train_file), loader(valid_file)
torch.manual_seed(s["seed"])
model = CHGNet.load(model_name="0.3.0", verbose=False)
trainer = Trainer(
    model=model, targets="efs", energy_loss_ratio=s["energy_weight"],
    force_loss_ratio=s["force_weight"], stress_loss_ratio=s["stress_weight"],
    optimizer="Adam", scheduler="CosLR", criterion="MSE", epochs=s["epochs"],
    learning_rate=s["learning_rate"], use_device="cpu", torch_seed=s["seed"],
    data_seed=s["seed"], print_freq=10**6,
)
trainer.train(train, valid, save_dir=folder)
print(json.dumps({"valid_force_mae_meV_A": 1e3 * trainer.training_history["f"]["val"][-1]}))
"""


def tool_env(env_bin: Path | None = None) -> dict[str, str]:
    """Environment of a run: one thread; a family env's bin first, its own packages only."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SSE_FLOWS_PROGRESS": "false"}
    if env_bin is not None:  # as sse_flows.training.trainer.run_tool / deepmd._tool_env
        env["PATH"] = f"{env_bin}{os.pathsep}{env.get('PATH', '')}"
        env.pop("PYTHONPATH", None)
        env.pop("VIRTUAL_ENV", None)
        env["DEVICE"] = "cpu"
    return env


def timed(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> dict[str, float]:
    """Run argv to completion (output to ``log``); return its wall and CPU time.

    CPU time is the process's and its waited-for descendants' (user + system), which
    a busy shared machine disturbs less than wall time.
    """
    with log.open("w") as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(argv[:3])} ... failed; log {log}:\n{tail}")
    return {"wall_s": seconds, "cpu_s": cpu}


def last_json(log: Path) -> dict[str, Any]:
    """The JSON line a script printed last."""
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith("{")]
    return dict(json.loads(lines[-1]))


# ------------------------------------------------------------------ data
def write_data(folder: Path, n_groups: int, per_group: int) -> tuple[Path, Path]:
    """Write the fixed split: the last 20 % of the structure groups validate."""
    sys.path.insert(0, str(REPO))
    from sse_flows.training.data import read_training_frames, write_frames
    from tests.tiny_models import alloy_frames, write_extxyz

    frames = alloy_frames(n_groups, per_group, seed=0)
    labelled = read_training_frames(write_extxyz(frames, folder / "all.extxyz"))
    n_valid = max(1, n_groups // 5) * per_group
    train = write_frames(labelled[:-n_valid], folder / "train.extxyz")
    valid = write_frames(labelled[-n_valid:], folder / "valid.extxyz")
    return train, valid


# ------------------------------------------------------------------ maker arm
def maker_run(
    family: str, epochs: int, train: Path, valid: Path, folder: Path
) -> dict[str, Any]:
    """TrainMaker's job through run_locally, in a fresh process."""
    settings = {**SETTINGS[family], "epochs": epochs}
    folder.mkdir(parents=True)
    env = {**tool_env(), "SSE_FLOWS_WORK_DIR": str(folder / "work")}
    argv = [sys.executable, "-c", MAKER_SCRIPT, family, json.dumps(settings)]
    argv += [str(train), str(valid), str(folder / "jobs")]
    log = folder / "run.log"
    return {**timed(argv, folder, env, log), **last_json(log)}


def maker_config(family: str, workdir: Path) -> Any:
    """The configuration the family's trainer handed to its package."""
    if family == "sevennet":
        import yaml

        return yaml.safe_load((workdir / "input.yaml").read_text())
    if family == "mace":
        log = (workdir / "mace_run_train.log").read_text()
        line = next(
            ln for ln in log.splitlines() if ln.startswith("$ ") and "mace_run_train" in ln
        )
        return line[2:].split(" ")
    if family == "deepmd":
        return json.loads((workdir / "input.json").read_text())
    return None


def with_epochs(family: str, config: Any, epochs: int) -> Any:
    """The warm-up run's configuration with another number of epochs."""
    config = json.loads(json.dumps(config))
    if family == "sevennet":
        config["train"]["epoch"] = epochs
    elif family == "mace":
        config = [
            f"--max_num_epochs={epochs}" if a.startswith("--max_num_epochs=") else a
            for a in config
        ]
    elif family == "deepmd":
        steps = epochs * config["training"]["disp_freq"]  # disp_freq: one epoch
        config["training"]["numb_steps"] = steps
        config["learning_rate"]["decay_steps"] = max(1, min(5000, steps // 20))
    return config


def normalised(config: Any, out_dir: Path) -> str:
    """The configuration as text, with the run's own folder replaced."""
    return json.dumps(config, sort_keys=True).replace(str(out_dir), "<out>")


# ------------------------------------------------------------------ direct arm
def direct_run(
    family: str,
    epochs: int,
    train: Path,
    valid: Path,
    folder: Path,
    warm: dict[str, Any],
) -> dict[str, Any]:
    """The package's own trainer, in a fresh process and folder."""
    from sse_flows.potentials.environments import env_python

    folder.mkdir(parents=True)
    log = folder / "run.log"
    result: dict[str, Any] = {}
    if family == "chgnet":
        settings = {**SETTINGS[family], "epochs": epochs}
        argv = [sys.executable, "-c", CHGNET_SCRIPT, str(train), str(valid)]
        argv += [json.dumps(settings), str(folder / "checkpoints")]
        seconds = timed(argv, folder, tool_env(), log)
        result = last_json(log)
    elif family == "sevennet":
        import yaml

        config = with_epochs(family, warm["config"], epochs)
        (folder / "input.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        argv = [str(VENV_BIN / "sevenn"), "train", "input.yaml", "-w", str(folder)]
        seconds = timed(argv, folder, tool_env(), log)
        result = {"valid_force_mae_meV_A": sevenn_last_force(folder / "lc.csv")}
    elif family == "mace":
        python = env_python("mace")
        workdir = str(warm["workdir"])
        argv = [
            a.replace(workdir, str(folder))
            for a in with_epochs(family, warm["config"], epochs)
        ]
        seconds = timed(argv, folder, tool_env(python.parent), log)
        result = {"valid_force_mae_meV_A": mace_last_force(folder / "results")}
    else:
        python = env_python("deepmd")
        config = with_epochs(family, warm["config"], epochs)
        (folder / "input.json").write_text(json.dumps(config, indent=1))
        argv = [str(python.parent / "dp"), "--pt", "train", "input.json"]
        seconds = timed(argv, folder, tool_env(python.parent), log)
        result = {"valid_force_mae_meV_A": dp_last_force(folder / "val.log")}
    return {**seconds, **result}


def sevenn_last_force(path: Path) -> float | None:
    """sevenn's lc.csv: validation force MAE of the last epoch, meV/A."""
    rows = list(csv.DictReader(path.open()))
    return 1e3 * float(rows[-1]["validset_Force_MAE"]) if rows else None


def mace_last_force(folder: Path) -> float | None:
    """MACE's results file: validation force MAE of the last evaluation, meV/A."""
    evals = [
        json.loads(ln)
        for f in folder.glob("*_train.txt")
        for ln in f.read_text().splitlines()
        if '"mode": "eval"' in ln
    ]
    return 1e3 * float(evals[-1]["mae_f"]) if evals else None


def dp_last_force(path: Path) -> float | None:
    """dp's val.log: force MAE (meV/A) of the last full validation."""
    rows = [ln.split() for ln in path.read_text().splitlines() if not ln.startswith("#")]
    header = next(ln for ln in path.read_text().splitlines() if ln.startswith("# step"))
    column = header[1:].split().index("F_MAE(meV/Å)")
    return float(rows[-1][column]) if rows else None


STAMP = re.compile(r"^\[?(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[.,]\d{3})")
ELAPSED = re.compile(r"^Epoch \d+ elapsed: (\d+):(\d\d):(\d\d(?:\.\d+)?)")


def tool_span(family: str, log: Path) -> float | None:
    """Seconds the package's own training took, by its own log (None: CHGNet).

    SevenNet: the sum of its "Epoch N elapsed" lines; MACE (``logs/*_run-*.log``) and
    dp train (its part of the log): last minus first time stamp. Differenced between
    E1 and E2 like the wall time, this is the training loop alone, without the fixed
    costs around it.
    """
    if family == "chgnet" or not log.exists():
        return None
    lines = log.read_text(errors="replace").splitlines()
    if family == "sevennet":
        parts = [ELAPSED.match(ln) for ln in lines]
        return sum(int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3]) for m in parts if m)
    if family == "deepmd":  # the maker's log also holds freeze and compress
        starts = [i for i, ln in enumerate(lines) if ln.startswith("$ ")]
        if starts:
            lines = lines[starts[0] + 1 : (starts[1:] or [len(lines)])[0]]
    stamps = [
        datetime.strptime(m[1].replace(",", "."), "%Y-%m-%d %H:%M:%S.%f").timestamp()
        for m in map(STAMP.match, lines)
        if m
    ]
    return stamps[-1] - stamps[0] if stamps else None


def tool_log(family: str, folder: Path, arm: str) -> Path:
    """The package's own log: in the trainer's workdir (maker) or the run folder."""
    if family == "sevennet":
        return folder / ("sevenn.log" if arm == "maker" else "log.sevenn")
    if family == "mace":
        found = sorted((folder / "logs").glob("*_run-*.log"))
        return next(
            (f for f in found if not f.name.endswith("_debug.log")), folder / "none"
        )
    if family == "deepmd":
        return folder / ("deepmd.log" if arm == "maker" else "run.log")
    return folder / "none"


# ------------------------------------------------------------------ one family
def bench_family(
    family: str, epochs: tuple[int, int], repeats: int, train: Path, valid: Path, root: Path
) -> dict[str, Any]:
    """Warm up once, then alternate the arms; return every run and the figures."""
    e1, e2 = epochs
    start = time.perf_counter()
    warm = maker_run(family, e1, train, valid, root / "warmup")
    warm["config"] = maker_config(family, Path(warm["workdir"]))
    out_of = Path(warm["workdir"]).parent
    print(f"{family}: warm-up maker E={e1} {warm['wall_s']:.1f} s", flush=True)
    schedule = [("maker", e1), ("direct", e1), ("maker", e2), ("direct", e2)]
    runs: list[dict[str, Any]] = []
    for repeat in range(repeats):
        order = schedule if repeat % 2 == 0 else schedule[::-1]
        for arm, n in order:
            folder = root / f"{arm}-E{n}-r{repeat}"
            if arm == "maker":
                run = maker_run(family, n, train, valid, folder)
                workdir = Path(run.pop("workdir"))
                run["tool_s"] = tool_span(family, tool_log(family, workdir, arm))
                wanted = with_epochs(family, warm["config"], n)
                got = maker_config(family, workdir)
                if normalised(got, workdir.parent) != normalised(wanted, out_of):
                    raise RuntimeError(
                        f"{family}: the maker run of {n} epochs configured its trainer "
                        "differently from the direct arm's configuration"
                    )
            else:
                run = direct_run(family, n, train, valid, folder, warm)
                run["tool_s"] = tool_span(family, tool_log(family, folder, arm))
            run.update(arm=arm, epochs=n, repeat=repeat)
            runs.append(run)
            print(
                f"{family:8s} r{repeat} {arm:6s} E={n:<3d} {run['wall_s']:7.1f} s "
                f"(CPU {run['cpu_s']:6.1f} s, in its log "
                f"{run['tool_s'] if run['tool_s'] is not None else float('nan'):5.1f} s)  "
                f"valid F MAE {run.get('valid_force_mae_meV_A') or float('nan'):.1f} meV/A",
                flush=True,
            )
            shutil.rmtree(folder, ignore_errors=True)
    return {
        "epochs": [e1, e2],
        "warmup_wall_s": warm["wall_s"],
        "runs": runs,
        **figures(runs, e1, e2),
        "family_wall_s": time.perf_counter() - start,
    }


def figures(runs: list[dict[str, Any]], e1: int, e2: int) -> dict[str, Any]:
    """Medians, per-epoch times by differencing, ratios and the fixed overhead.

    For wall and CPU time alike: per-epoch time from the medians of the E1 and E2
    runs, and the ratio per repetition (paired: the four runs of one repetition).
    """
    out: dict[str, Any] = {}
    for key in ("wall_s", "cpu_s", "tool_s"):
        if any(r.get(key) is None for r in runs):
            continue

        def times(arm: str, n: int, key: str = key) -> list[float]:
            return [r[key] for r in runs if r["arm"] == arm and r["epochs"] == n]

        median = {
            arm: {n: statistics.median(times(arm, n)) for n in (e1, e2)}
            for arm in ("maker", "direct")
        }
        per_epoch = {arm: (m[e2] - m[e1]) / (e2 - e1) for arm, m in median.items()}
        paired = []
        for repeat in sorted({r["repeat"] for r in runs}):
            pick = {(r["arm"], r["epochs"]): r[key] for r in runs if r["repeat"] == repeat}
            maker = (pick["maker", e2] - pick["maker", e1]) / (e2 - e1)
            direct = (pick["direct", e2] - pick["direct", e1]) / (e2 - e1)
            paired.append(maker / direct)
        out[key] = {
            "median": {arm: {str(n): v for n, v in m.items()} for arm, m in median.items()},
            "per_epoch_s": per_epoch,
            "ratio_per_epoch": per_epoch["maker"] / per_epoch["direct"],
            "paired_ratios": paired,
            "median_paired_ratio": statistics.median(paired),
            "fixed_overhead_s": median["maker"][e1] - median["direct"][e1],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--groups", type=int, default=10, help="structures (8 atoms)")
    parser.add_argument("--per-group", type=int, default=5, help="frames per structure")
    parser.add_argument(
        "--epochs",
        action="append",
        default=[],
        metavar="FAMILY=E1,E2",
        help="epoch counts to difference (default: "
        + ", ".join(f"{k}={a},{b}" for k, (a, b) in EPOCHS.items())
        + ")",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "train.json")
    parser.add_argument("--keep", action="store_true", help="keep the run folders")
    args = parser.parse_args()
    t0 = time.perf_counter()
    os.environ["OMP_NUM_THREADS"] = "1"
    epochs = dict(EPOCHS)
    for item in args.epochs:
        name, _, pair = item.partition("=")
        a, b = (int(x) for x in pair.split(","))
        epochs[name] = (a, b)
    root = Path(tempfile.mkdtemp(prefix="bench_train_"))
    train, valid = write_data(root, args.groups, args.per_group)
    results: dict[str, Any] = {}
    for family in args.families.split(","):
        results[family] = bench_family(
            family, epochs[family], args.repeats, train, valid, root / family
        )
        for key in ("wall_s", "cpu_s", "tool_s"):
            if key not in results[family]:
                continue
            f = results[family][key]
            print(
                f"{family} {key[:-2]}: s/epoch maker {f['per_epoch_s']['maker']:.2f}, "
                f"direct {f['per_epoch_s']['direct']:.2f}; ratio "
                f"{f['ratio_per_epoch']:.3f} (paired "
                f"{', '.join(f'{r:.3f}' for r in f['paired_ratios'])}); fixed "
                f"overhead {f['fixed_overhead_s']:+.1f} s",
                flush=True,
            )
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    write_results(
        args.out,
        {
            "benchmark": "train",
            "python": platform.python_version(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "packages": {
                p: package_version(p)
                for p in ("sse-flows", "jobflow", "torch", "chgnet", "sevenn", "ase")
            },
            "env_packages": env_versions(),
            **git_state(),
            "frames": {"groups": args.groups, "per_group": args.per_group, "atoms": 8},
            "settings": SETTINGS,
            "repeats": args.repeats,
            "families": results,
            "total_wall_s": time.perf_counter() - t0,
        },
    )


def env_versions() -> dict[str, str | None]:
    """mace-torch and deepmd-kit versions in their environments."""
    from sse_flows.potentials.environments import env_python

    out: dict[str, str | None] = {}
    for family, dist in (("mace", "mace-torch"), ("deepmd", "deepmd-kit")):
        try:
            python = env_python(family)
            done = subprocess.run(
                [
                    str(python),
                    "-c",
                    f"from importlib.metadata import version; print(version('{dist}'))",
                ],
                capture_output=True,
                text=True,
                env=tool_env(python.parent),
            )
            out[dist] = done.stdout.strip() or None
        except Exception:
            out[dist] = None
    return out


if __name__ == "__main__":
    main()
