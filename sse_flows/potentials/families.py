"""The model families sse-flows knows: where their weights live and how to load them.

Each family looks for weights on disk first and never triggers the package's own
download, which on this kind of offline machine hangs for half a minute before failing.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator
from ase.data import chemical_symbols

from sse_flows.settings import SSEFlowsSettings

# Training sets of the universal potentials (MPtrj, Alexandria, OMat24) span H..Pu.
Z_UP_TO_PU = frozenset(chemical_symbols[1:95])


def package_dir(module: str) -> Path | None:
    """Return the directory of an installed package without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class PotentialFamily:
    """One model family: its package, its checkpoints and how to build a calculator."""

    name: str
    package: str
    module: str
    extra: str
    description: str
    default_checkpoint: str | None
    # checkpoint name -> candidate locations (first existing one wins)
    candidates: Callable[[str, SSEFlowsSettings], list[Path]]
    known_checkpoints: tuple[str, ...]
    build: Callable[[Path | None, str, dict[str, Any]], Calculator]
    elements: Callable[[Calculator], frozenset[str]]
    checkpoint_suffixes: tuple[str, ...] = ()
    needs_torch: bool = True
    notes: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)

    def installed(self) -> bool:
        """Return whether the family's package can be imported."""
        return importlib.util.find_spec(self.module) is not None


# --------------------------------------------------------------------------- CHGNet
_CHGNET_DIRS = {"0.3.0": "0.3.0", "0.2.0": "0.2.0", "r2scan": "r2scan"}


def _chgnet_candidates(name: str, settings: SSEFlowsSettings) -> list[Path]:
    found: list[Path] = []
    root = package_dir("chgnet")
    if root is not None and name in _CHGNET_DIRS:
        found += sorted((root / "pretrained" / _CHGNET_DIRS[name]).glob("*.pth.tar"))
    found += sorted((settings.weights_dir / "chgnet").glob(f"*{name}*.pth.tar"))
    return found


def _chgnet_build(path: Path | None, device: str, options: dict[str, Any]) -> Calculator:
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    assert path is not None
    root = package_dir("chgnet")
    if root is not None and path.parent.parent == root / "pretrained":
        # Shipped checkpoints differ in architecture flags that only load() knows.
        model = CHGNet.load(model_name=path.parent.name, verbose=False)
    else:
        model = CHGNet.from_file(str(path))
    return CHGNetCalculator(model=model, use_device=device, **options)


# ------------------------------------------------------------------------- SevenNet
_SEVENNET_CONST = {
    "7net-0": "SEVENNET_0_11Jul2024",
    "7net-0_22may2024": "SEVENNET_0_22May2024",
    "7net-l3i5": "SEVENNET_l3i5",
    "7net-mf-0": "SEVENNET_MF_0",
    "7net-mf-ompa": "SEVENNET_MF_ompa",
    "7net-omat": "SEVENNET_omat",
    "7net-omni": "SEVENNET_omni",
}


def _sevennet_candidates(name: str, settings: SSEFlowsSettings) -> list[Path]:
    root = package_dir("sevenn")
    if root is None or name not in _SEVENNET_CONST:
        return []
    # Mirror sevenn._const without importing sevenn (which imports torch).
    text = (root / "_const.py").read_text()
    const = _SEVENNET_CONST[name]
    for line in text.splitlines():
        if line.startswith(f"{const} = "):
            relative = line.split("{_prefix}/", 1)[1].rstrip("'\"")
            return [
                root / "pretrained_potentials" / relative,
                Path("~/.cache/sevennet").expanduser() / relative,
                settings.weights_dir / "sevennet" / relative,
            ]
    return []


def _sevennet_build(path: Path | None, device: str, options: dict[str, Any]) -> Calculator:
    from sevenn.calculator import SevenNetCalculator

    assert path is not None
    return SevenNetCalculator(model=str(path), device=device, **options)


def _type_map_elements(calc: Calculator) -> frozenset[str]:
    type_map = calc.type_map  # type: ignore[attr-defined]
    if isinstance(type_map, dict):
        return frozenset(chemical_symbols[int(z)] for z in type_map)
    return frozenset(str(s) for s in type_map)


# ------------------------------------------------------------------------ MatterSim
def _mattersim_candidates(name: str, settings: SSEFlowsSettings) -> list[Path]:
    file = f"{name}.pth" if not name.endswith(".pth") else name
    return [
        Path("~/.local/mattersim/pretrained_models").expanduser() / file,
        settings.weights_dir / "mattersim" / file,
    ]


def _mattersim_build(path: Path | None, device: str, options: dict[str, Any]) -> Calculator:
    from mattersim.forcefield import MatterSimCalculator

    return MatterSimCalculator(load_path=str(path), device=device, **options)


# ----------------------------------------------------------------------------- MACE
# Cache file names used by mace.calculators.foundations_models for the named models.
_MACE_FILES = {
    "mace-mp-0-small": "2023-12-10-mace-128-L0_energy_epoch-249.model",
    "mace-mp-0-medium": "2023-12-03-mace-128-L1_epoch-199.model",
    "mace-mp-0-large": "2024-01-07-mace-128-L2_epoch-199.model",
    "mace-mpa-0-medium": "mace-mpa-0-medium.model",
    "mace-omat-0-medium": "mace-omat-0-medium.model",
}


def _mace_candidates(name: str, settings: SSEFlowsSettings) -> list[Path]:
    file = _MACE_FILES.get(name)
    if file is None:
        return []
    return [
        Path("~/.cache/mace").expanduser() / file,
        settings.weights_dir / "mace" / file,
        settings.weights_dir / "mace" / f"{name}.model",
    ]


def _mace_build(path: Path | None, device: str, options: dict[str, Any]) -> Calculator:
    from mace.calculators import MACECalculator

    # MACE sets torch's global default dtype; the registry restores it after loading.
    opts = {"default_dtype": "float64", **options}
    return MACECalculator(model_paths=str(path), device=device, **opts)


def _mace_elements(calc: Calculator) -> frozenset[str]:
    zs = calc.z_table.zs  # type: ignore[attr-defined]
    return frozenset(chemical_symbols[int(z)] for z in zs)


# ---------------------------------------------------------------------- M3GNet (matgl)
def _matgl_candidates(name: str, settings: SSEFlowsSettings) -> list[Path]:
    return [
        Path("~/.cache/matgl").expanduser() / name,
        settings.weights_dir / "m3gnet" / name,
    ]


def _matgl_build(path: Path | None, device: str, options: dict[str, Any]) -> Calculator:
    import matgl
    from matgl.ext.ase import PESCalculator

    model = matgl.load_model(str(path))
    # matgl >= 1.2 reports stress in GPa by default; ASE (and our NPT) needs eV/A^3.
    return PESCalculator(model, **{"stress_unit": "eV/A3", **options})


def _matgl_elements(calc: Calculator) -> frozenset[str]:
    return frozenset(calc.potential.model.element_types)  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------ ORB
def _orb_candidates(name: str, settings: SSEFlowsSettings) -> list[Path]:
    return sorted(Path("~/.cache/orb").expanduser().glob(f"{name}*.ckpt")) + sorted(
        (settings.weights_dir / "orb").glob(f"{name}*.ckpt")
    )


def _orb_build(path: Path | None, device: str, options: dict[str, Any]) -> Calculator:
    from orb_models.forcefield import pretrained
    from orb_models.forcefield.calculator import ORBCalculator

    assert path is not None
    names = [k for k in pretrained.ORB_PRETRAINED_MODELS if path.name.startswith(k)]
    architecture = options.pop("architecture", None) or max(names, key=len, default=None)
    if architecture is None:
        raise ValueError(
            f"cannot tell the ORB architecture of {path.name}; set options: "
            f"{{architecture: ...}} to one of {sorted(pretrained.ORB_PRETRAINED_MODELS)}"
        )
    loader = pretrained.ORB_PRETRAINED_MODELS[architecture]
    orbff = loader(weights_path=str(path), device=device)
    return ORBCalculator(orbff, device=device, **options)


# ---------------------------------------------------------------------------- DeePMD
def _no_named_checkpoints(name: str, settings: SSEFlowsSettings) -> list[Path]:
    return []


def _deepmd_build(path: Path | None, device: str, options: dict[str, Any]) -> Calculator:
    from deepmd.calculator import DP

    return DP(model=str(path), **options)


# ------------------------------------------------------------------------------ EMT
def _emt_build(path: Path | None, device: str, options: dict[str, Any]) -> Calculator:
    from ase.calculators.emt import EMT

    return EMT(**options)


def _emt_elements(calc: Calculator) -> frozenset[str]:
    return frozenset({"H", "C", "N", "O", "Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au"})


def _all_up_to_pu(calc: Calculator) -> frozenset[str]:
    return Z_UP_TO_PU


FAMILIES: dict[str, PotentialFamily] = {
    f.name: f
    for f in (
        PotentialFamily(
            name="chgnet",
            package="chgnet",
            module="chgnet",
            extra="chgnet",
            description="CHGNet (weights ship with the package)",
            default_checkpoint="0.3.0",
            candidates=_chgnet_candidates,
            known_checkpoints=tuple(_CHGNET_DIRS),
            build=_chgnet_build,
            elements=_all_up_to_pu,
            checkpoint_suffixes=(".pth.tar", ".tar", ".pt", ".pth"),
        ),
        PotentialFamily(
            name="sevennet",
            package="sevenn",
            module="sevenn",
            extra="sevenn",
            description="SevenNet (7net-0, 7net-l3i5, 7net-mf-0 ship with the package)",
            default_checkpoint="7net-0",
            candidates=_sevennet_candidates,
            known_checkpoints=tuple(_SEVENNET_CONST),
            build=_sevennet_build,
            elements=_type_map_elements,
            checkpoint_suffixes=(".pth", ".pt"),
            notes="multi-fidelity checkpoints take options: {modal: ...}",
            aliases=("7net",),
        ),
        PotentialFamily(
            name="mattersim",
            package="mattersim",
            module="mattersim",
            extra="mattersim",
            description="MatterSim (weights downloaded separately)",
            default_checkpoint="mattersim-v1.0.0-1M",
            candidates=_mattersim_candidates,
            known_checkpoints=("mattersim-v1.0.0-1M", "mattersim-v1.0.0-5M"),
            build=_mattersim_build,
            elements=_all_up_to_pu,
            checkpoint_suffixes=(".pth",),
        ),
        PotentialFamily(
            name="mace",
            package="mace-torch",
            module="mace",
            extra="mace",
            description="MACE foundation models or any local .model file (own environment)",
            default_checkpoint="mace-mp-0-medium",
            candidates=_mace_candidates,
            known_checkpoints=tuple(_MACE_FILES),
            build=_mace_build,
            elements=_mace_elements,
            checkpoint_suffixes=(".model",),
            notes="mace-torch pins e3nn==0.4.4: install it in its own environment",
        ),
        PotentialFamily(
            name="m3gnet",
            package="matgl",
            module="matgl",
            extra="matgl",
            description="M3GNet through matgl (model directories from its cache)",
            default_checkpoint="M3GNet-MP-2021.2.8-PES",
            candidates=_matgl_candidates,
            known_checkpoints=("M3GNet-MP-2021.2.8-PES", "M3GNet-MatPES-PBE-v2025.1-PES"),
            build=_matgl_build,
            elements=_matgl_elements,
            aliases=("matgl",),
        ),
        PotentialFamily(
            name="orb",
            package="orb-models",
            module="orb_models",
            extra="orb",
            description="ORB (checkpoints downloaded separately)",
            default_checkpoint="orb-v3-conservative-inf-mpa",
            candidates=_orb_candidates,
            known_checkpoints=("orb-v3-conservative-inf-mpa", "orb-v2"),
            build=_orb_build,
            elements=_all_up_to_pu,
            checkpoint_suffixes=(".ckpt",),
        ),
        PotentialFamily(
            name="deepmd",
            package="deepmd-kit",
            module="deepmd",
            extra="deepmd",
            description="DeePMD-kit frozen model (.pth or .pb file)",
            default_checkpoint=None,
            candidates=_no_named_checkpoints,
            known_checkpoints=(),
            build=_deepmd_build,
            elements=_type_map_elements,
            checkpoint_suffixes=(".pth", ".pb"),
            aliases=("dp",),
        ),
        PotentialFamily(
            name="emt",
            package="ase",
            module="ase",
            extra="",
            description="ASE's EMT (metals, H, C, N, O): fast, for tests and tutorials",
            default_checkpoint=None,
            candidates=_no_named_checkpoints,
            known_checkpoints=(),
            build=_emt_build,
            elements=_emt_elements,
            needs_torch=False,
        ),
    )
}
