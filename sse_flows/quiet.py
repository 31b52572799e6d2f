"""Known-harmless warnings of the libraries we drive, silenced where they arise.

Each entry names one warning that a user cannot act on (it reports the library's own
internals) and says why it is harmless. Code that triggers one wraps the call in
``with harmless("name", ...)``; every other warning still reaches the user.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

#: name -> (category, message regex, why it is harmless)
KNOWN: dict[str, tuple[type[Warning], str, str]] = {
    "logm": (
        RuntimeWarning,
        r"logm result may be inaccurate",
        "scipy's matrix logarithm in ASE's FrechetCellFilter near the identity; the "
        "cell deformation it measures is tiny there and the optimizer converges",
    ),
    "fix-atoms": (
        UserWarning,
        r"Only FixAtoms and FixCartesian is supported by Pymatgen",
        "CHGNet converts atoms to a pymatgen Structure to build its graph; the "
        "constraints (FixSymmetry, FixCom) act in ASE, not in that conversion",
    ),
    "jobflow-cd": (
        FutureWarning,
        r"cd is deprecated",
        "jobflow's run_locally and jobflow-remote's local host use monty's deprecated "
        "cd; it changes nothing here",
    ),
    "jobflow-remote-makedirs": (
        FutureWarning,
        r"makedirs_p is deprecated",
        "jobflow-remote's log folder setup uses monty's deprecated makedirs_p",
    ),
    "jobflow-connected": (
        UserWarning,
        r"Some jobs are not connected",
        "independent jobs of a flow (competing phases, temperatures) run in any order",
    ),
    "tp-accelerator": (
        UserWarning,
        r".*TP accelerator.*",
        "SevenNet's optional GPU tensor-product kernel is absent on a CPU",
    ),
    "requires-grad": (
        UserWarning,
        r".*requires_grad=True.*",
        "torch notes a copied tensor that keeps gradients, as the models intend",
    ),
    "pymatgen-occupancy": (
        UserWarning,
        r".*(fractional co-ordinates|Issues encountered while parsing CIF).*",
        "pymatgen's CIF reader rounding refined coordinates; the structure is checked",
    ),
}


@contextmanager
def harmless(*names: str) -> Iterator[None]:
    """Silence the named known-harmless warnings inside the block."""
    with warnings.catch_warnings():
        for name in names:
            category, message, _ = KNOWN[name]
            warnings.filterwarnings("ignore", message=message, category=category)
        yield
