"""Spec kind ``benchmark``: many potentials, one dataset and named structures.

``potentials`` are the rows (all in one flow, not one flow each); one without weights
here becomes a row that says so. ``structures`` maps names to files or
``prototype:NAME``, or names a folder whose structure files are taken by stem.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import yaml
from jobflow import Flow
from pydantic import Field
from pymatgen.core import Structure

from sse_flows.errors import SpecError
from sse_flows.flows.benchmark import BenchmarkMaker
from sse_flows.kinds.base import PROTOTYPE_PREFIX, FlowSpec
from sse_flows.kinds.datasets import frames_file
from sse_flows.potentials import PotentialSpec, check_available

#: suffixes read as structures from a folder
STRUCTURE_SUFFIXES = (".cif", ".vasp", ".json", ".poscar")
STRUCTURE_NAMES = ("POSCAR", "CONTCAR")


class BenchmarkSpec(FlowSpec):
    """Errors, properties and diffusion of several potentials, as a leaderboard."""

    flow: Literal["benchmark"]
    data: str | None = Field(
        None, description="Frames file, export folder or dataset uuid."
    )
    structures: dict[str, str] | str | None = Field(
        None, description="name -> file or 'prototype:NAME', or a folder of structures."
    )
    reference_values: dict[str, dict[str, float]] | str | None = Field(
        None, description="name -> {property: value}, or a YAML/JSON file of that."
    )
    benchmark: BenchmarkMaker = Field(default_factory=BenchmarkMaker)

    def data_file(self) -> str | None:
        """Resolve ``data`` to the extxyz to read (None: no errors column)."""
        if self.data is None:
            return None
        return str(frames_file(self.spec_path(self.data), self.data).resolve())

    def named_structures(self) -> dict[str, Structure]:
        """Read the named structures (files, prototypes, or a folder's files)."""
        from sse_flows.structures import read_structure
        from sse_flows.structures.prototypes import load_prototype

        value = self.structures
        if value is None:
            return {}
        if isinstance(value, str):
            folder = self.spec_path(value)
            if not folder.is_dir():
                raise SpecError(f"structures: {folder} is not a folder")
            files = sorted(
                p
                for p in folder.iterdir()
                if p.suffix.lower() in STRUCTURE_SUFFIXES or p.name in STRUCTURE_NAMES
            )
            if not files:
                raise SpecError(
                    f"{folder} holds no structure files ({', '.join(STRUCTURE_SUFFIXES)}, "
                    "POSCAR)"
                )
            return {p.stem: read_structure(p) for p in files}
        named = {}
        for name, source in value.items():
            if source.startswith(PROTOTYPE_PREFIX):
                named[name] = load_prototype(source[len(PROTOTYPE_PREFIX) :])
            else:
                path = self.spec_path(source)
                if not path.exists():
                    raise SpecError(f"structure '{name}': file not found: {path}")
                named[name] = read_structure(path)
        return named

    def references(self) -> dict[str, dict[str, float]]:
        """Return the reference values (read from a file when a path is given)."""
        value = self.reference_values
        if isinstance(value, str):
            path = self.spec_path(value)
            try:
                loaded: Any = yaml.safe_load(path.read_text())  # JSON is YAML too
            except (OSError, yaml.YAMLError) as exc:
                raise SpecError(f"reference values {path}: {exc}") from exc
            if not isinstance(loaded, dict):
                raise SpecError(f"{path} must map structure names to property values")
            return {
                str(k): {str(p): float(v) for p, v in d.items()} for k, d in loaded.items()
            }
        return dict(value or {})

    def maker(self) -> BenchmarkMaker:
        """Return the benchmark maker with the spec's potentials and references."""
        references = self.references()
        return dataclasses.replace(
            self.benchmark,
            name=self.name,
            potentials=self.chosen_potentials() or list(self.benchmark.potentials),
            reference_values=references or self.benchmark.reference_values,
        )

    def build_one(self) -> Flow:
        """Build the one benchmark flow over every potential."""
        return self.maker().make(self.data_file(), self.named_structures())

    def build(self) -> Flow:
        """One flow for all potentials (not one flow per potential)."""
        try:
            flow = self.build_one()
        except (TypeError, ValueError) as exc:
            raise SpecError(f"Invalid 'benchmark' settings: {exc}") from exc
        flow.name = self.name
        return flow

    def used_potentials(self) -> list[PotentialSpec]:
        """Only the reference model must be here; other rows say when they are not."""
        reference = self.benchmark.reference_potential
        return [reference] if reference is not None else []

    def preflight(self) -> None:
        """Fail before any work when the reference potential cannot run here."""
        for potential in self.used_potentials():
            check_available(potential)
