"""MD until the error bar of D is small enough: analyse the segments, extend, stop.

With a precision target the conductivity flow runs, per temperature, its NVT job and
then the job of :class:`PrecisionDiffusionMaker`. That job analyses the production so
far (the segments of one continued run, read as one trajectory). If the relative 95 %
CI half-width of D is at or below the target, it returns the analysis. If not, and one
more segment fits under the cap, it replaces itself with a continuation MD segment
and the same check over one segment more. Otherwise it returns the analysis marked as
stopped by the cap. This spends MD time where diffusion is slow and saves it where it
is fast.

The jobs a check creates get uuids derived from the first check's uuid and the
segment number (:func:`sse_flows.makers.dynamic.stable_uuids`): rebuilt after a
failure or a kill, each continuation finds its run directory, and so its checkpoint,
again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from jobflow import Flow, Job, Maker, Response, job

from sse_flows.analysis.diffusion import DiffusionResult
from sse_flows.documents import DiffusionOutput, MDOutput, coerce
from sse_flows.documents.transport import PrecisionStep
from sse_flows.errors import SpecError, SSEFlowsError
from sse_flows.makers.dynamic import PROCESS, UNFINISHED, stable_uuids
from sse_flows.makers.md import MDMaker
from sse_flows.makers.transport import DiffusionMaker
from sse_flows.potentials import PotentialSpec


def judge(result: DiffusionResult, target: float) -> tuple[float | None, bool, str]:
    """Return the relative half-width of D, whether it meets the target, and why.

    A D that is not positive, a CI containing zero or a run not yet diffusive (the
    analysis's own test: MSD and hops too small, sub-diffusive) never meets it: their
    intervals do not measure a diffusion coefficient.
    """
    width = result.relative_half_width
    low, high = result.D_ci95
    if result.D <= 0 or width is None:
        return width, False, f"D = {result.D:.2e} cm^2/s is not positive"
    if low <= 0:
        return width, False, f"the 95 % CI [{low:.2e}, {high:.2e}] contains zero"
    if not result.diffusive:
        said = result.warnings[0] if result.warnings else "see the analysis's warnings"
        return width, False, f"not diffusive yet ({said})"
    if width > target:
        return width, False, f"+-{width:.1%} > +-{target:.1%}"
    return width, True, f"+-{width:.1%} <= +-{target:.1%}"


def check_precision_settings(
    target: float | None, cap_ps: float | None, segment_ps: float, where: str
) -> None:
    """Refuse a target that cannot work: not positive, no cap, cap under one segment."""
    if target is None:
        if cap_ps is not None:
            raise SpecError(
                f"{where}: max_production_ps = {cap_ps:g} is set without "
                "precision_target; set a target (e.g. 0.1 for +-10 %) or drop the cap."
            )
        return
    if not target > 0:
        raise SpecError(
            f"{where}: precision_target must be a positive fraction (0.1 = +-10 % of "
            f"D), got {target}."
        )
    if cap_ps is None:
        raise SpecError(
            f"{where}: precision_target needs max_production_ps, the most production "
            "time (ps) to spend per temperature before giving up."
        )
    if cap_ps < segment_ps - 1e-9:
        raise SpecError(
            f"{where}: max_production_ps = {cap_ps:g} ps is shorter than one segment "
            f"(the NVT production, {segment_ps:g} ps); raise the cap or shorten "
            "the NVT production."
        )


@dataclass
class PrecisionDiffusionMaker(Maker):
    """Analyse a run's segments; continue it by one segment until D is precise enough.

    ``segment`` is the MD maker of one segment (the conductivity flow's NVT maker at
    this temperature); continuations run its ``production_steps`` each. The output is
    the DiffusionOutput of all segments, saying whether the target or the cap ended it.
    """

    resource_role: ClassVar[str] = "cpu"  # MSD over the trajectory files, as diffusion
    #: fields with the makers of the jobs it creates at run time: routing sends the
    #: MD segments to their own (potential) worker, not to this job's
    spawns: ClassVar[tuple[str, ...]] = ("segment",)

    name: str = "diffusion to precision"
    diffusion: DiffusionMaker = field(default_factory=DiffusionMaker)
    segment: MDMaker = field(default_factory=MDMaker)
    precision_target: float = 0.1
    max_production_ps: float = 10.0

    def __post_init__(self) -> None:
        """Refuse settings that cannot work (see :func:`check_precision_settings`)."""
        check_precision_settings(
            self.precision_target, self.max_production_ps, self.segment_ps, self.name
        )

    @property
    def segment_ps(self) -> float:
        """Production time of one segment, ps."""
        return self.segment.production_steps * self.segment.timestep_fs / 1000.0

    @job(output_schema=DiffusionOutput)
    def make(
        self,
        segments: list[Any],
        potential: PotentialSpec | dict[str, Any] | None = None,
        md_job: str | None = None,
        history: list[Any] | None = None,
        chain: str | None = None,
    ) -> DiffusionOutput | Response:
        """Analyse the MD outputs in ``segments``; stop, or go on with one segment more.

        ``chain`` names the first check (later checks get it); ``history`` holds the
        analyses after each earlier segment.
        """
        from jobflow import CURRENT_JOB

        current = CURRENT_JOB.job
        if chain is None and current is not None:
            chain = current.uuid
        docs = [coerce(s, MDOutput) for s in segments]
        paths = [d.trajectory.path for d in docs]
        temperature = float(docs[0].protocol["temperature"])
        production_ps = sum(d.simulated_time_ps for d in docs)
        analysis = self.diffusion.analyze(paths, temperature)
        width, met, reason = judge(analysis.result, self.precision_target)
        steps = [coerce(h, PrecisionStep) for h in history or []]
        steps.append(
            PrecisionStep(
                segments=len(docs),
                production_ps=production_ps,
                D=analysis.result.D,
                D_ci95=analysis.result.D_ci95,
                relative_ci_halfwidth=width,
                met=met,
                reason=reason,
            )
        )
        fits = production_ps + self.segment_ps <= self.max_production_ps + 1e-9
        if not met and fits:
            if current is None or chain is None:
                raise SSEFlowsError(
                    "the precision loop extends the run by replacing its job: run it in "
                    "a flow (sse-flows run, run_flow), not by calling the function"
                )
            return self._extend(current, docs, segments, potential, md_job, steps, chain)
        provenance = self.diffusion.start_provenance(
            paths, [d.trajectory.sha256 for d in docs], md_job
        )
        return self.diffusion.document(
            analysis,
            paths,
            docs[0].structure,
            temperature,
            docs[0].potential,
            md_job,
            provenance,
            production_ps=production_ps,
            final_structure=docs[-1].structure,
            stopped="target" if met else "cap",
            precision_target=self.precision_target,
            max_production_ps=self.max_production_ps,
            relative_ci_halfwidth=width,
            precision_history=steps,
        )

    def _extend(
        self,
        current: Job,
        docs: list[MDOutput],
        segments: list[Any],
        potential: PotentialSpec | dict[str, Any] | None,
        md_job: str | None,
        steps: list[PrecisionStep],
        chain: str,
    ) -> Response:
        """Replace this check by one more MD segment and the check after it.

        The next check takes this job's uuid at the next index (as jobflow does for a
        job replaced by one job), so a reference to the first check resolves to the
        last check's document. The segment's uuid comes from ``chain`` and its number.
        """
        number = len(docs) + 1
        base = self.segment.name
        history = [s.model_dump() for s in steps]
        continuation = dataclasses.replace(
            self.segment, name=f"{base} segment {number}"
        ).make(docs[-1].structure, potential=potential, continue_from=docs[-1].run_dir)
        following = dataclasses.replace(
            self, name=f"{self.diffusion.name} after segment {number}"
        ).make(
            [*segments, continuation.output],
            potential=potential,
            md_job=md_job,
            history=history,
            chain=chain,
        )
        flow = stable_uuids(
            Flow([continuation, following], name=f"{base} segment {number}"),
            chain,
            f"segment {number}",
        )
        check = flow.jobs[-1]
        assert isinstance(check, Job)
        check.set_uuid(current.uuid)
        check.index = current.index + 1
        # routed flows: the next check keeps sending its segments to their own worker
        check.config.pass_manager_config = current.config.pass_manager_config
        marker = {
            "unfinished": UNFINISHED,
            "process": PROCESS,
            "segments": len(docs),
            "temperature": float(docs[0].protocol["temperature"]),
            # what rebuilds the chain from here if its process is killed; the rebuilt
            # check takes the next index of this uuid, as the next check would have
            "uuid": current.uuid,
            "index": current.index,
            "rebuild": {
                "maker": self,
                "segments": segments,
                "potential": potential,
                "md_job": md_job,
                "history": [s.model_dump() for s in steps[:-1]],
                "chain": chain,
            },
        }
        return Response(output=marker, replace=flow)
