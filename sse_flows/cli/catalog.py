"""What this installation offers: potentials and shipped prototype structures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from sse_flows.cli.app import command, dumps, fail
from sse_flows.errors import SSEFlowsError


@command()
def potentials(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the potential registry and what is available on this machine."""
    from dataclasses import asdict

    from sse_flows.potentials import availability

    rows = availability()
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in rows], indent=2))
        return
    for row in rows:
        status = f"installed ({row.package_version})" if row.installed else "not installed"
        typer.echo(f"{row.name:10s} {status:24s} {row.description}")
        typer.echo(f"    energies: {row.energy_reference}")
        for name, present in row.checkpoints.items():
            mark = "weights on disk" if present else "weights missing"
            default = " (default)" if name == row.default_checkpoint else ""
            typer.echo(f"    {name}{default}: {mark}")
        if not row.installed:
            typer.echo(f"    install: {row.install_hint}")


@command()
def prototypes(
    name: Annotated[
        str | None, typer.Argument(help="Prototype to show or write (case-insensitive).")
    ] = None,
    write: Annotated[
        Path | None,
        typer.Option(
            "--write", help="Write it to this file (.cif, POSCAR/.vasp, .extxyz)."
        ),
    ] = None,
    role: Annotated[
        str | None, typer.Option("--role", help="Only electrolyte, competing or element.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the shipped prototype structures, show one, or write one to a file."""
    from dataclasses import asdict

    from sse_flows.structures.prototypes import (
        get_prototype_info,
        list_prototypes,
        load_prototype,
        write_prototype,
    )

    try:
        if name is None:
            if write is not None:
                raise SSEFlowsError("--write needs a prototype NAME")
            infos = list_prototypes(role)
            if as_json:
                typer.echo(json.dumps([asdict(i) for i in infos], indent=2))
                return
            for i in infos:
                kind = "ordered" if i.ordered else "disordered"
                typer.echo(
                    f"{i.name:16s} {i.formula:14s} {i.spacegroup_symbol:10s} "
                    f"{i.role:11s} {i.nsites:4d} {kind:10s} {i.short_source}"
                )
            return
        info = get_prototype_info(name)
        if write is not None:
            path = write_prototype(info.name, write)
            typer.echo(f"wrote {info.name} ({info.nsites} sites) to {path}")
            return
        structure = load_prototype(info.name)
    except SSEFlowsError as exc:
        fail(exc)
    if as_json:
        typer.echo(dumps({**asdict(info), "structure": structure.as_dict()}))
        return
    lat = structure.lattice
    typer.echo(
        f"{info.name}: {info.formula}, {info.spacegroup_symbol} "
        f"(No. {info.spacegroup_number}), {info.role}, {info.nsites} sites, "
        f"{'ordered' if info.ordered else 'partially occupied sites'}"
    )
    typer.echo(
        f"  cell: a={lat.a:.4f} b={lat.b:.4f} c={lat.c:.4f} A, "
        f"alpha={lat.alpha:.2f} beta={lat.beta:.2f} gamma={lat.gamma:.2f}, "
        f"V={lat.volume:.2f} A^3"
    )
    typer.echo(f"  source: {info.source}" + (f" (doi:{info.doi})" if info.doi else ""))
    if info.note:
        typer.echo(f"  note: {info.note}")
