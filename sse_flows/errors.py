"""Errors a user can act on: each says what is wrong and what to do about it."""


class SSEFlowsError(Exception):
    """Base class of every error sse-flows raises on purpose."""


class PotentialError(SSEFlowsError):
    """A potential cannot be used as asked."""


class UnknownPotentialError(PotentialError):
    """The potential name is not in the registry."""


class PotentialNotInstalledError(PotentialError):
    """The Python package behind a potential is not installed."""


class CheckpointNotFoundError(PotentialError):
    """The weights of a potential are not on this machine."""


class UnsupportedElementError(PotentialError):
    """The structure holds elements the potential was not trained on."""


class StructureInputError(SSEFlowsError):
    """A structure file cannot be read, or the structure is unusable."""


class DisorderedStructureError(StructureInputError):
    """A structure with partial occupancies was given where an ordered cell is needed."""


class MDInstabilityError(SSEFlowsError):
    """An MD run left the physical regime (non-finite energy, overlap, runaway)."""


class CheckpointMismatchError(SSEFlowsError):
    """A checkpoint on disk belongs to a run with different settings."""


class SpecError(SSEFlowsError):
    """A flow specification file is invalid."""


class EnvironmentNotReadyError(PotentialNotInstalledError):
    """A family runs in an environment of its own that is not built here."""


class EnvironmentBuildError(SSEFlowsError):
    """Building a family's environment failed at a named step (its log is kept)."""


class ProxyWorkerError(PotentialError):
    """The worker process that runs a model in its own environment failed."""
