"""The ``sse-flows`` Typer application and what every command shares.

Commands parse their arguments into a spec (:mod:`sse_flows.spec`), run it, and print
the documents' own summaries; library work stays in the library.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import typer
from typer.core import TyperCommand

from sse_flows.errors import SSEFlowsError

app = typer.Typer(
    name="sse-flows",
    help="Workflows for solid-state electrolytes with machine-learning potentials.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _startup() -> None:
    """Check the settings before any command."""
    from pydantic import ValidationError

    from sse_flows.settings import config_file_path, get_settings

    try:
        get_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        fail(
            SSEFlowsError(
                f"invalid settings ({problems}). Check SSE_FLOWS_* variables and "
                f"{config_file_path()}."
            )
        )


def fail(exc: Exception | str) -> NoReturn:
    """Print ``error: ...`` and exit with code 2 (bad input)."""
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def dumps(doc: Any) -> str:
    """JSON of a document (monty objects, datetimes and enums made plain)."""
    from monty.json import jsanitize

    return json.dumps(jsanitize(doc, strict=False, enum_values=True), indent=2, default=str)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def expand_multi_values(args: list[str], flags: tuple[str, ...]) -> list[str]:
    """``--flag 1 2 3`` -> ``--flag 1 --flag 2 --flag 3`` for numeric multi-value flags."""
    expanded: list[str] = []
    current: str | None = None
    for arg in args:
        if arg in flags:
            current = arg
            expanded.append(arg)
        elif current is not None and expanded[-1] == current:
            expanded.append(arg)  # the flag's own first value
        elif current is not None and _is_number(arg):
            expanded += [current, arg]
        else:
            current = None
            expanded.append(arg)
    return expanded


class MultiValueCommand(TyperCommand):
    """A command whose repeatable numeric options also take several values per flag.

    ``--temperature 600 800 1000`` is read as ``--temperature 600 --temperature 800
    --temperature 1000``; the repeated flag works as always.
    """

    multi_value: tuple[str, ...] = ()

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Expand the multi-value flags, then parse as usual."""
        return super().parse_args(ctx, expand_multi_values(args, self.multi_value))


def command(
    multi_value: tuple[str, ...] = (), **kwargs: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a command of the app; ``multi_value`` names its numeric list flags."""
    cls = type("Command", (MultiValueCommand,), {"multi_value": multi_value})
    return app.command(cls=cls, **kwargs)


def split_values(values: list[str] | None) -> list[str]:
    """Repeated options and comma lists, in order, without duplicates."""
    items = [v.strip() for value in values or [] for v in value.split(",")]
    return list(dict.fromkeys(v for v in items if v))


def floats(text: str | None, option: str) -> list[float] | None:
    """Numbers separated by commas (``--strains -0.01,0.01``)."""
    if text is None:
        return None
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values:
        raise SSEFlowsError(f"{option} takes numbers separated by commas; got '{text}'")
    return values


def run_spec_quietly(spec: Any) -> Any:
    """Run a spec; what model packages print while loading goes to stderr."""
    from sse_flows.spec import run_spec

    with contextlib.redirect_stdout(sys.stderr):
        return run_spec(spec)


def run_command_spec(spec: Any) -> tuple[str, dict[str, Any]]:
    """Run a command's spec; return the flow uuid and its output document.

    Bad input fails before any work (code 2); a failed run exits with code 1 and the
    jobs' errors, and says how to resume it.
    """
    from sse_flows.records import get_output

    try:
        record = run_spec_quietly(spec)
    except SSEFlowsError as exc:
        fail(exc)
    doc = get_output(record.output_job) if record.output_job else None
    if record.state != "COMPLETED" or doc is None:
        errors = "; ".join(f"{j.name}: {j.error}" for j in record.jobs if j.error)
        typer.secho(
            f"error: {spec.flow} failed ({errors or record.state})", fg="red", err=True
        )
        typer.echo(
            f"fix the cause, then continue with: sse-flows resume {record.flow_uuid}",
            err=True,
        )
        raise typer.Exit(code=1)
    return record.flow_uuid, doc["output"]


def show_output(
    flow_uuid: str,
    out: dict[str, Any],
    as_json: bool,
    keys: tuple[str, ...] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Print an output document: its summary lines, or JSON of ``keys`` (all if None)."""
    from sse_flows.documents import as_document

    if as_json:
        chosen = {k: out[k] for k in keys} if keys else out
        typer.echo(dumps({"flow_uuid": flow_uuid, **(extra or {}), **chosen}))
        return
    typer.echo(f"flow {flow_uuid}: COMPLETED")
    typer.echo("\n".join(as_document(out).summary_lines()))


def run_and_show(spec: Any, as_json: bool, keys: tuple[str, ...] | None = None) -> None:
    """Run a command's spec, then print its output document."""
    flow_uuid, out = run_command_spec(spec)
    show_output(flow_uuid, out, as_json, keys)
