"""What each paper table computes (recipes) and with which settings (presets), as data.

Recipes and presets live in ``sse_flows/data/presets/tables/<paper>.yaml``: one file
per paper, holding its presets (``paper``: the settings transcribed from the paper,
``small``: minutes on a laptop CPU) and the recipe of each of its tables (the
structures of the rows, the properties, the mobile species). A preset given as a YAML
path replaces the shipped ones; a recipe file given as a path describes tables that
are not shipped (tests, a user's own table spec).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sse_flows.errors import SpecError
from sse_flows.presets import PresetError, is_preset_file, load_preset, preset_dir
from sse_flows.thermo.corrections import CorrectionScheme

PRESETS = ("paper", "small")
PROPERTIES = ("stability", "elastic", "conductivity")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RelaxSettings(_Strict):
    """A relaxation of a table flow: force limit, step limit, convergence policy."""

    fmax: float = Field(0.05, description="Force limit, eV/A (with the cell: stress too).")
    max_steps: int = Field(500, description="Optimizer step limit.")
    require_convergence: bool = Field(
        True, description="Fail the job when fmax is not reached (else keep and note it)."
    )
    fix_symmetry: bool | None = Field(
        None,
        description="Keep the space group (ASE FixSymmetry); None: the step's default "
        "(kept for the elastic reference, free elsewhere).",
    )


class StabilityPreset(_Strict):
    """Settings of the hull: relaxation of every phase, corrections, phase set."""

    relax: RelaxSettings = Field(default_factory=RelaxSettings)
    corrections: CorrectionScheme = Field(
        "auto",
        description="MP2020 anion corrections: auto (only where the potential's energies "
        "lack them), none or mp2020_anion.",
    )
    use_prototypes: bool = Field(
        True,
        description="Add every shipped prototype of the system; False keeps only the "
        "elements (references) and the recipe's hull rows.",
    )
    allow_incomplete: bool = Field(
        False, description="Build the hull without competing phases that failed."
    )


class ElasticPreset(_Strict):
    """Strains and relaxations of the elastic tensor."""

    normal_strains: list[float] = Field(description="Magnitudes of e_xx, e_yy, e_zz.")
    shear_strains: list[float] = Field(description="Engineering shear magnitudes.")
    reference_relax: RelaxSettings | None = Field(
        description="Relaxation of the input before straining (None: as given)."
    )
    ion_relax: RelaxSettings | None = Field(
        description="Relaxation of the ions in each strained cell (None: clamped ions)."
    )
    engine: Literal["sse-flows", "matcalc"] = Field(
        "sse-flows",
        description="Who strains and fits: this package, or matcalc's ElasticityCalc "
        "(the method of paper 000).",
    )


class ConductivityPreset(_Strict):
    """A conductivity preset (``sse_flows/data/presets/conductivity``) and overrides."""

    base: str | None = Field(
        None, description="Conductivity preset name or YAML path (None: field defaults)."
    )
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="ConductivityMaker fields replacing the base's; nvt/npt dicts update.",
    )


class OrderingPreset(_Strict):
    """How a disordered structure becomes the ordered cell the properties use."""

    supercell: list[int] | None = Field(
        None,
        description="Enumeration cell; None: the smallest diagonal cell holding the "
        "composition exactly (at least min_supercell).",
    )
    min_supercell: list[int] = Field(default_factory=lambda: [1, 1, 1])
    keep: int = Field(20, description="Lowest-Ewald candidates kept for screening.")
    oxidation_states: dict[str, float] | None = Field(
        None, description="Charges of the Ewald ranking (None: guessed from the formula)."
    )
    screen: Literal["auto", "always", "never"] = Field(
        "auto", description="Single-point screening with the potential."
    )
    top: int = Field(5, description="Best candidates relaxed; the lowest is used.")
    relax: RelaxSettings = Field(
        default_factory=lambda: RelaxSettings(require_convergence=False)
    )


class TablePreset(_Strict):
    """All settings of one preset; a section is needed when a recipe computes it."""

    description: str = Field(description="What the preset is for, with its cost.")
    stability: StabilityPreset | None = None
    elastic: ElasticPreset | None = None
    conductivity: ConductivityPreset | None = None
    ordering: OrderingPreset | None = None


class StructureSource(_Strict):
    """Where the structure of a row (or of a host) comes from when the user gives none."""

    prototype: str | None = Field(None, description="Shipped prototype name.")
    host: str | None = Field(
        None, description="Formula of a host (see ``hosts``) this row derives from."
    )
    substitute: dict[str, str] | None = Field(
        None, description="Host species -> substituent, e.g. {Li: Na}."
    )
    amount: float | None = Field(None, description="Substituted atoms per formula unit.")
    also_match: list[str] = Field(
        default_factory=list,
        description="Other formulas a given structure of this row may have (the "
        "table spec's also_match).",
    )
    pool: bool = Field(
        False,
        description="Pool the partially occupied orbits of one element set before "
        "ordering (Li3YCl6: Li 6g + 6h, the split Y 2d orbits); see "
        "sse_flows.ordering.problem.pool_partial_sites.",
    )
    note: str = Field("", description="Why it is not shipped, or what it stands for.")


class TableRecipe(_Strict):
    """What one table needs: the row structures, the properties, the mobile species."""

    table: str = Field(description="Table spec name (the key of the recipe in its file).")
    compute: list[Literal["stability", "elastic", "conductivity"]] = Field(
        description="Properties computed for every row structure."
    )
    structures: dict[str, StructureSource] = Field(
        description="Row formula -> default source (empty: the user must give it)."
    )
    hosts: dict[str, StructureSource] = Field(
        default_factory=dict, description="Structures rows derive from (by formula)."
    )
    species: list[list[str]] = Field(
        default_factory=lambda: [["Li"]],
        description="Mobile-species sets; the MD runs once, each set is analysed.",
    )
    hull_rows: list[str] = Field(
        default_factory=list,
        description="Row formulas whose structures enter every other row's hull (the "
        "paper's vertex compositions).",
    )
    presets: str = Field(description="Preset group (a key of the file's presets).")


class RecipeFile(_Strict):
    """One recipe file: preset groups and table recipes."""

    presets: dict[str, dict[str, TablePreset]]
    tables: dict[str, TableRecipe]

    @model_validator(mode="before")
    @classmethod
    def _name_tables(cls, data: Any) -> Any:
        """Name each recipe by the key it is filed under."""
        if isinstance(data, dict) and isinstance(data.get("tables"), dict):
            tables = {
                k: {**v, "table": k} if isinstance(v, dict) else v
                for k, v in data["tables"].items()
            }
            data = {**data, "tables": tables}
        return data


def recipe_files() -> list[Path]:
    """Return the recipe files shipped with the package (one per paper)."""
    return sorted(preset_dir("tables").glob("*.yaml"))


def _read(path: Path) -> RecipeFile:
    data = load_preset("tables", path)
    data.pop("name", None)
    try:
        return RecipeFile.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"table recipe file {path}: {exc}") from exc


def load_recipe(table: str, recipe_file: str | Path | None = None) -> RecipeFile:
    """Return the recipe file describing ``table`` (shipped, or the one given)."""
    files = [Path(recipe_file).expanduser()] if recipe_file else recipe_files()
    known: list[str] = []
    for path in files:
        if not path.is_file():
            raise PresetError(f"table recipe file not found: {path}")
        parsed = _read(path)
        if table in parsed.tables:
            return parsed
        known += list(parsed.tables)
    raise SpecError(
        f"no flow recipe for table '{table}'; tables with one: {', '.join(sorted(known))}"
    )


def table_recipe(table: str, recipe_file: str | Path | None = None) -> TableRecipe:
    """Return the recipe of one table."""
    return load_recipe(table, recipe_file).tables[table]


def table_preset(
    table: str, preset: str, recipe_file: str | Path | None = None
) -> TablePreset:
    """Return a preset by name (``paper``, ``small``) or from a YAML file path.

    A YAML file holds one preset (the fields of :class:`TablePreset`).
    """
    if is_preset_file(preset):
        data = load_preset("tables", preset)
        data.pop("name", None)
        try:
            return TablePreset.model_validate(data)
        except ValidationError as exc:
            raise SpecError(f"preset file {preset}: {exc}") from exc
    parsed = load_recipe(table, recipe_file)
    group = parsed.presets.get(parsed.tables[table].presets)
    if group is None:
        raise SpecError(
            f"table '{table}' names preset group '{parsed.tables[table].presets}', "
            "which its recipe file does not define"
        )
    if preset not in group:
        raise SpecError(
            f"unknown preset '{preset}' for {table}; use one of {', '.join(group)} "
            "or the path of a preset YAML file"
        )
    return group[preset]


def check_preset(recipe: TableRecipe, preset: TablePreset, name: str) -> None:
    """Raise if the preset lacks a section the recipe computes."""
    missing = [p for p in recipe.compute if getattr(preset, p) is None]
    if missing:
        raise SpecError(
            f"preset '{name}' has no {', '.join(missing)} settings, which "
            f"{recipe.table} computes"
        )
