"""Build ASE integrators from a protocol, and save/restore their full internal state.

ASE's integrators keep state beyond positions and momenta (Nose-Hoover chain
variables, MTK barostat momenta, the Langevin/Bussi random generator). A restart that
drops it gives a different trajectory, so the whole state is captured here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms, units
from ase.md.md import MolecularDynamics

from sse_flows.md.protocol import MDProtocol


def build_dynamics(atoms: Atoms, protocol: MDProtocol) -> MolecularDynamics:
    """Return the ASE integrator for the protocol's ensemble and thermostat."""
    dt = protocol.timestep_fs * units.fs
    temp = protocol.temperature
    taut = protocol.taut_fs * units.fs
    taup = protocol.taup_fs * units.fs
    rng = np.random.default_rng(protocol.seed + 1)  # distinct from the velocity draw
    pressure_au = protocol.pressure_gpa * units.GPa
    key = (protocol.ensemble, protocol.thermostat)
    if key == ("nve", None):
        from ase.md.verlet import VelocityVerlet

        return VelocityVerlet(atoms, timestep=dt)
    if key == ("nvt", "langevin"):
        from ase.constraints import FixCom
        from ase.md.langevin import Langevin

        if protocol.fix_com:  # ASE >= 3.28 deprecates Langevin(fixcm=True) for this
            atoms.set_constraint(FixCom())
        return Langevin(
            atoms,
            timestep=dt,
            temperature_K=temp,
            friction=protocol.friction_per_fs / units.fs,
            fixcm=False,
            rng=rng,
        )
    if key == ("nvt", "berendsen"):
        from ase.md.nvtberendsen import NVTBerendsen

        return NVTBerendsen(
            atoms, timestep=dt, temperature_K=temp, taut=taut, fixcm=protocol.fix_com
        )
    if key == ("nvt", "nose_hoover"):
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        return NoseHooverChainNVT(
            atoms, timestep=dt, temperature_K=temp, tdamp=taut, tchain=protocol.chain_length
        )
    if key == ("nvt", "bussi"):
        from ase.md.bussi import Bussi

        return Bussi(atoms, timestep=dt, temperature_K=temp, taut=taut, rng=rng)
    if key == ("npt", "berendsen"):
        from ase.md.nptberendsen import Inhomogeneous_NPTBerendsen, NPTBerendsen

        cls = (
            NPTBerendsen if protocol.npt_cell == "isotropic" else Inhomogeneous_NPTBerendsen
        )
        return cls(
            atoms,
            timestep=dt,
            temperature_K=temp,
            pressure_au=pressure_au,
            taut=taut,
            taup=taup,
            compressibility_au=1.0 / (protocol.bulk_modulus_gpa * units.GPa),
            fixcm=protocol.fix_com,
        )
    if key == ("npt", "mtk"):
        from ase.md.nose_hoover_chain import MTKNPT, IsotropicMTKNPT

        mtk = IsotropicMTKNPT if protocol.npt_cell == "isotropic" else MTKNPT
        return mtk(
            atoms,
            timestep=dt,
            temperature_K=temp,
            pressure_au=pressure_au,
            tdamp=taut,
            pdamp=taup,
            tchain=protocol.chain_length,
            pchain=protocol.chain_length,
        )
    raise ValueError(f"No integrator for ensemble/thermostat {key}")  # pragma: no cover


_SKIP = frozenset({"atoms", "optimizable", "observers", "trajectory", "logfile", "comm"})
_SCALARS = (int, float, bool, np.integer, np.floating, np.bool_)


def capture_state(obj: Any) -> dict[str, Any]:
    """Return a picklable snapshot of an integrator's numeric state.

    Walks the object's attributes: arrays and numbers are copied, random generators
    give their bit-generator state, and helper objects from ``ase.md`` (thermostat and
    barostat chains) are walked in turn.
    """
    state: dict[str, Any] = {}
    for name, value in vars(obj).items():
        if name in _SKIP:
            continue
        if isinstance(value, np.ndarray):
            state[name] = ("array", value.copy())
        elif isinstance(value, _SCALARS):
            state[name] = ("scalar", value)
        elif isinstance(value, np.random.Generator):
            state[name] = ("generator", value.bit_generator.state)
        elif isinstance(value, np.random.RandomState):
            state[name] = ("randomstate", value.get_state())
        elif type(value).__module__.startswith("ase.md"):
            state[name] = ("object", capture_state(value))
    return state


def restore_state(obj: Any, state: dict[str, Any]) -> None:
    """Write a snapshot from :func:`capture_state` back into a fresh integrator."""
    for name, (kind, value) in state.items():
        if kind in ("array", "scalar"):
            setattr(obj, name, value.copy() if kind == "array" else value)
        elif kind == "generator":
            getattr(obj, name).bit_generator.state = value
        elif kind == "randomstate":
            getattr(obj, name).set_state(value)
        elif kind == "object":
            restore_state(getattr(obj, name), value)
