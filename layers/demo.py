"""Build the demo store from the embedded demo territory (``data/demo``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from layers.demo_actions import ActionsSummary, simulate_action_plans
from layers.errors import SourceFileError
from layers.importer import ImportOptions, ImportReport, import_file
from layers.samples import declare_sample
from layers.simulate import SimulationSummary, simulate_territory
from layers.source_coverage import declare_coverage
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)


@dataclass
class DemoResult:
    """Reports of every import of the demo, and the simulation summaries."""

    reports: list[ImportReport] = field(default_factory=list)
    simulation: SimulationSummary | None = None
    actions: ActionsSummary | None = None


def demo_steps(demo_dir: Path) -> list[dict[str, str]]:
    """Return the import steps listed in ``demo_dir/manifest.yaml``."""
    manifest = demo_dir / "manifest.yaml"
    if not manifest.exists():
        raise SourceFileError(f"Manifeste du territoire de démonstration introuvable : {manifest}.")
    return list(yaml.safe_load(manifest.read_text(encoding="utf-8"))["imports"])


def build_demo(
    store: LayerStore,
    demo_dir: Path,
    *,
    report_dir: Path | None = None,
    on_step: Callable[[str], None] | None = None,
) -> DemoResult:
    """Import the demo territory into ``store`` and add the simulated records.

    Parameters
    ----------
    store : LayerStore
        Destination (re-running on the same store adds nothing).
    demo_dir : Path
        The ``data/demo`` folder with its ``manifest.yaml``.
    report_dir : Path, optional
        Where to write the reject reports.
    on_step : callable, optional
        Called with the name of each step, for progress display.

    Returns
    -------
    DemoResult
    """
    manifest = yaml.safe_load((demo_dir / "manifest.yaml").read_text(encoding="utf-8"))
    result = DemoResult()
    for step in manifest["imports"]:
        if on_step:
            on_step(step["file"])
        report = import_file(store, demo_dir / step["file"],
                             options=ImportOptions(mapping=step["mapping"], actor="demo",
                                                   report_dir=report_dir))
        result.reports.append(report)
        if step.get("echantillon"):
            declare_sample(store, report.dataset, step["echantillon"])
        if step.get("couverture"):  # issue 16 part B: where the source can report
            wkt = (demo_dir / step["couverture"]).read_text(encoding="utf-8")
            declare_coverage(store, report.dataset, wkt)
    sim = manifest.get("simulate")
    if sim:
        if on_step:
            on_step("simulation")
        perimeters = store.read("perimetres")
        perimeters = perimeters[perimeters["communes"].isin(sim["communes"])]
        result.simulation = simulate_territory(store, perimeters, seed=int(sim["seed"]),
                                               start=str(sim["start"]), months=int(sim["months"]))
        plans = manifest.get("plans_actions")
        if plans:
            if on_step:
                on_step("plans d'actions")
            result.actions = simulate_action_plans(store, perimeters, seed=int(plans["seed"]))
    return result
