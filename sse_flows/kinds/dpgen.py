"""A DP-GEN ``param.json`` read as an ``active_learning`` spec.

``sse-flows run param.json`` takes DP-GEN's run parameters and runs them through our
loop (:mod:`sse_flows.flows.active_learning`): the committee is trained by our trainer
(DeePMD by default, as in DP-GEN), the exploration is our committee MD, the labels come
from our labeling flow. What is taken from DP-GEN and dpdata, and what is ours:

- dpgen's own argument schema (``dpgen.generator.arginfo.run_jdata_arginfo``, dargs)
  checks the file first, as ``dpgen run`` would, so a typo is reported in DP-GEN's
  words;
- dpdata reads ``init_data_sys`` (``deepmd/npy``) and the ``sys_configs`` (POSCAR);
- the mapping from DP-GEN's keys to our spec is written here: DP-GEN has no such
  mapping (its loop is LAMMPS + DeePMD + dispatcher). Every key of :data:`SUPPORTED`
  is mapped; any other key set in the file is refused, naming it.

Things DP-GEN does not have go under an ``sse_flows`` key (see :data:`EXTENSION`):
an oracle potential instead of DFT, the committee's family, training settings, a
test set, convergence.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from sse_flows.errors import SpecError

#: DP-GEN keys this reading maps, and what each becomes
SUPPORTED: dict[str, str] = {
    "type_map": "element order of the deepmd/npy data",
    "mass_map": "checked against standard masses (our MD uses them)",
    "init_data_prefix": "folder of init_data_sys",
    "init_data_sys": "initial labelled data (deepmd/npy, read with dpdata)",
    "sys_configs_prefix": "folder of sys_configs",
    "sys_configs": "start structures per system (POSCAR globs)",
    "sys_format": "only vasp/poscar",
    "numb_models": "committee size",
    "default_training_param": "DeePMD input: model section, start_lr, numb_steps",
    "model_devi_dt": "MD time step (ps)",
    "model_devi_skip": "only 0",
    "model_devi_f_trust_lo": "trust lo (eV/A), one number",
    "model_devi_f_trust_hi": "trust hi (eV/A), one number",
    "model_devi_clean_traj": "accepted; trajectories are kept",
    "model_devi_engine": "only lammps (run as our MD)",
    "model_devi_jobs": "exploration stages (sys_idx, temps, press, trj_freq, nsteps, "
    "ensemble)",
    "fp_style": "vasp or cp2k (our labeling flow)",
    "fp_incar": "vasp: its tags become the incar of a DFT preset (on MPStaticSet)",
    "fp_pp_path": "accepted; POTCARs are pymatgen's (PBE, MP's choice)",
    "fp_pp_files": "accepted; POTCARs are pymatgen's (PBE, MP's choice)",
    "fp_task_max": "max_candidates",
    "fp_task_min": "accepted; candidates are labelled whatever their number",
}
#: keys of the ``sse_flows`` section: settings DP-GEN has no key for
EXTENSION = (
    "name",
    "oracle",
    "committee",
    "train",
    "test_data",
    "converge",
    "max_iterations",
    "md",
    "min_frame_gap",
)
JOB_KEYS = {"sys_idx", "temps", "press", "trj_freq", "nsteps", "ensemble", "_idx"}
ENSEMBLES = {"nvt": "nvt", "npt": "npt", "npt-i": "npt", "npt-iso": "npt", "nve": "nve"}
BAR_PER_GPA = 1.0e4


def is_dpgen_param(data: dict[str, Any]) -> bool:
    """Whether a mapping without ``flow`` is a DP-GEN run parameter file."""
    return "flow" not in data and "model_devi_jobs" in data


def dpgen_spec(data: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Return the ``active_learning`` spec of a DP-GEN ``param.json``."""
    given = {k for k in data if not k.startswith("_")}
    unknown = sorted(given - set(SUPPORTED) - {"sse_flows"})
    if unknown:
        raise SpecError(
            f"DP-GEN keys not supported by sse-flows: {', '.join(unknown)}. Supported: "
            f"{', '.join(SUPPORTED)}; settings DP-GEN has no key for go under "
            f"'sse_flows' ({', '.join(EXTENSION)})."
        )
    extra = dict(data.get("sse_flows") or {})
    wrong = sorted(set(extra) - set(EXTENSION))
    if wrong:
        raise SpecError(
            f"Unknown keys under 'sse_flows': {', '.join(wrong)}; known: "
            f"{', '.join(EXTENSION)}"
        )
    params = _checked({k: v for k, v in data.items() if k != "sse_flows"})
    _refuse_values(params)
    type_map = list(params["type_map"])
    _check_masses(type_map, params.get("mass_map"))
    structures, systems = _configs(params, base_dir)
    init_file, n_init = _init_data(params, type_map, base_dir)
    committee = dict(extra.get("committee") or {})
    committee.setdefault("potential", "deepmd")
    committee.setdefault("size", int(params.get("numb_models", 4)))
    train, deepmd_model = _train(params, dict(extra.get("train") or {}), n_init)
    committee["train"] = train
    if deepmd_model:  # DP-GEN's model section is DeePMD's: only its members take it
        committee["models"] = {"deepmd": deepmd_model, **committee.get("models", {})}
    spec: dict[str, Any] = {
        "flow": "active_learning",
        "name": extra.get("name", "dpgen"),
        "structures": structures,
        "initial_data": str(init_file),
        "committee": committee,
        "oracle": extra.get("oracle") or _oracle(params, base_dir),
        "exploration": [_stage(job, params, systems) for job in params["model_devi_jobs"]],
        "trust": {
            "lo": float(params["model_devi_f_trust_lo"]),
            "hi": float(params["model_devi_f_trust_hi"]),
        },
        "max_candidates": int(params.get("fp_task_max", 50)),
        "max_iterations": int(extra.get("max_iterations", len(params["model_devi_jobs"]))),
        "fatal_at_max": False,  # DP-GEN runs its jobs through; it has no convergence
    }
    for key in ("test_data", "converge", "md", "min_frame_gap"):
        if key in extra:
            spec[key] = extra[key]
    return spec


def _dpgen_schema() -> Any:
    """Return dpgen's run-parameter schema, imported without its side effects.

    Importing dpgen imports dpdispatcher, whose logger writes a line to stdout (which
    would spoil ``--json``) and opens ``dpdispatcher.log`` in the current folder; the
    import runs in a folder of the work dir with stdout caught, and the stdout handler
    is removed.
    """
    import contextlib
    import io
    import logging

    from sse_flows.settings import get_settings

    logs = get_settings().work_dir / "dpgen_logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.chdir(logs), contextlib.redirect_stdout(io.StringIO()):
            from dpgen.generator.arginfo import run_jdata_arginfo
    except ImportError as exc:  # pragma: no cover - installed by scripts/setup.sh
        raise SpecError(
            "Reading a DP-GEN param.json needs the dpgen package: "
            "pip install --no-deps dpgen==0.14.0 dpdispatcher"
        ) from exc
    logger = logging.getLogger("dpdispatcher")
    for handler in list(logger.handlers):
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            logger.removeHandler(handler)
    return run_jdata_arginfo()


def _checked(params: dict[str, Any]) -> dict[str, Any]:
    """Check and complete the parameters with dpgen's own schema."""
    schema = _dpgen_schema()
    try:
        normalized: dict[str, Any] = schema.normalize_value(params, trim_pattern="_*")
        schema.check_value(normalized, strict=False)
    except Exception as exc:  # dargs raises its own ArgumentError family
        raise SpecError(f"param.json does not pass DP-GEN's own checks: {exc}") from exc
    return {**normalized, **{k: v for k, v in params.items() if k in normalized}}


def _refuse_values(params: dict[str, Any]) -> None:
    """Refuse values of supported keys that this reading cannot honour."""
    problems = []
    if params.get("model_devi_engine", "lammps") != "lammps":
        problems.append(f"model_devi_engine {params['model_devi_engine']!r} (only lammps)")
    if params.get("model_devi_skip", 0):
        problems.append("model_devi_skip other than 0")
    for key in ("model_devi_f_trust_lo", "model_devi_f_trust_hi"):
        if key not in params or not isinstance(params[key], int | float):
            problems.append(f"{key} must be one number (per-system lists are not read)")
    if params.get("sys_format", "vasp/poscar") != "vasp/poscar":
        problems.append(f"sys_format {params['sys_format']!r} (only vasp/poscar)")
    for index, job in enumerate(params["model_devi_jobs"]):
        extra = sorted(set(job) - JOB_KEYS)
        if extra:
            problems.append(f"model_devi_jobs[{index}] keys {', '.join(extra)}")
        if str(job.get("ensemble", "nvt")) not in ENSEMBLES:
            problems.append(
                f"model_devi_jobs[{index}] ensemble {job.get('ensemble')!r} (known: "
                f"{', '.join(ENSEMBLES)})"
            )
    if problems:
        raise SpecError("param.json: not supported by sse-flows: " + "; ".join(problems))


def _check_masses(type_map: list[str], masses: list[float] | None) -> None:
    """Refuse masses that differ from the standard ones (our MD uses those)."""
    from ase.data import atomic_masses, atomic_numbers

    for symbol, mass in zip(type_map, masses or [], strict=False):
        if symbol not in atomic_numbers:
            raise SpecError(f"type_map names {symbol!r}, which is not an element")
        standard = float(atomic_masses[atomic_numbers[symbol]])
        if abs(mass - standard) > 0.01 * standard:
            raise SpecError(
                f"mass_map gives {symbol} a mass of {mass}, the standard one is "
                f"{standard:.3f}: sse-flows MD uses standard masses; remove mass_map or "
                "set it to the standard masses"
            )


def _configs(params: dict[str, Any], base_dir: Path) -> tuple[list[str], list[list[int]]]:
    """Return every start structure file and, per DP-GEN system, its indices."""
    prefix = base_dir / str(params.get("sys_configs_prefix") or "")
    structures: list[str] = []
    systems: list[list[int]] = []
    for index, patterns in enumerate(params.get("sys_configs") or []):
        found = sorted({str(p) for pattern in patterns for p in prefix.glob(pattern)})
        if not found:
            raise SpecError(
                f"sys_configs[{index}] ({patterns}) matches no file under {prefix}"
            )
        systems.append(list(range(len(structures), len(structures) + len(found))))
        structures += found
    if not structures:
        raise SpecError("param.json lists no sys_configs: nothing to explore")
    return structures, systems


def _init_data(
    params: dict[str, Any], type_map: list[str], base_dir: Path
) -> tuple[Path, int]:
    """Convert init_data_sys (deepmd/npy) to one extxyz with dpdata; return it, frames."""
    import dpdata
    from ase.io import write

    from sse_flows.settings import get_settings

    prefix = base_dir / str(params.get("init_data_prefix") or "")
    frames = []
    for index, name in enumerate(params.get("init_data_sys") or []):
        folder = prefix / name
        if not folder.is_dir():
            raise SpecError(f"init_data_sys[{index}] {folder} is not a folder")
        system = dpdata.LabeledSystem(str(folder), fmt="deepmd/npy", type_map=type_map)
        converted: list[Any] = list(system.to("ase/structure"))  # type: ignore[call-overload]
        for number, atoms in enumerate(converted):
            atoms.info["group"] = f"init{index}-{number}"
            frames.append(atoms)
    if not frames:
        raise SpecError("param.json lists no init_data_sys: the committee needs data")
    digest = hashlib.sha256(
        json.dumps(params.get("init_data_sys"), sort_keys=True).encode()
        + str(prefix.resolve()).encode()
    ).hexdigest()[:16]
    out = get_settings().work_dir / "dpgen_init" / digest / "init.extxyz"
    out.parent.mkdir(parents=True, exist_ok=True)
    write(str(out), frames, format="extxyz")
    return out, len(frames)


def _train(
    params: dict[str, Any], overrides: dict[str, Any], n_init: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the committee's training settings and DeePMD model section."""
    deepmd = params.get("default_training_param") or {}
    settings: dict[str, Any] = {"from_scratch": True, "compress": False}
    model = {k: v for k, v in (deepmd.get("model") or {}).items() if k != "type_map"}
    start_lr = (deepmd.get("learning_rate") or {}).get("start_lr")
    if start_lr:
        settings["learning_rate"] = float(start_lr)
    steps = (deepmd.get("training") or {}).get("numb_steps")
    if steps:
        batch = int(overrides.get("batch_size", 4))
        # our epochs are passes over the training data; DP-GEN's numb_steps are
        # batches: converted on the initial data (later data grow, as in DP-GEN)
        settings["epochs"] = max(1, math.ceil(int(steps) * batch / max(n_init, 1)))
    return {**settings, **overrides}, model


def _oracle(params: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Return the oracle of fp_style: our labeling flow for VASP or CP2K."""
    style = params.get("fp_style")
    if style == "vasp" and params.get("fp_incar"):
        return {"dft": {"code": "vasp", "preset": str(_incar_preset(params, base_dir))}}
    if style in ("vasp", "cp2k"):
        return {"dft": {"code": style}}
    raise SpecError(
        f"fp_style {style!r} is not supported; use vasp or cp2k (settings from an "
        "sse-flows DFT preset: sse_flows: {oracle: {dft: {code: vasp, preset: NAME}}}), "
        "or label with a potential: sse_flows: {oracle: {potential: NAME}}"
    )


def _incar_preset(params: dict[str, Any], base_dir: Path) -> Path:
    """Write a DFT preset whose incar is fp_incar's tags (on vasp-mp-pbe's base)."""
    import yaml
    from pymatgen.io.vasp import Incar

    from sse_flows.presets import load_preset
    from sse_flows.settings import get_settings

    path = base_dir / str(params["fp_incar"])
    if not path.is_file():
        raise SpecError(f"fp_incar {path} is not a file")
    incar = {k: v for k, v in Incar.from_file(str(path)).items()}
    preset = load_preset("dft", "vasp-mp-pbe")
    preset["name"] = "dpgen-fp_incar"
    preset["description"] = f"DP-GEN fp_incar {path} on pymatgen's MPStaticSet"
    preset["source"] = str(path)
    preset["settings"]["incar"] = incar
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    out = get_settings().work_dir / "dpgen_init" / digest / "dpgen-fp_incar.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(preset))
    return out


def _stage(
    job: dict[str, Any], params: dict[str, Any], systems: list[list[int]]
) -> dict[str, Any]:
    """Return our exploration stage of one model_devi_jobs entry."""
    ensemble = ENSEMBLES[str(job.get("ensemble", "nvt"))]
    indices = job.get("sys_idx", list(range(len(systems))))
    wrong = [i for i in indices if not 0 <= i < len(systems)]
    if wrong:
        raise SpecError(
            f"model_devi_jobs sys_idx {wrong}: there are {len(systems)} systems"
        )
    stage: dict[str, Any] = {
        "temperatures": [float(t) for t in job["temps"]],
        "ensemble": ensemble,
        "steps": int(job["nsteps"]),
        "timestep_fs": float(params.get("model_devi_dt", 0.002)) * 1000.0,
        "sample_interval": int(job.get("trj_freq", 10)),
        "systems": [s for i in indices for s in systems[i]],
    }
    if ensemble == "npt":
        stage["pressures_GPa"] = [float(p) / BAR_PER_GPA for p in job.get("press", [1.0])]
    return stage
