"""The OpenTelemetry Collector configuration under deploy/ is whole: every pipeline uses
only what is defined, spans come in by OTLP and go out by OTLP, and the services' metrics
are scraped on their ports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from deploy.local.stack import SERVICES

CONFIG = Path(__file__).parents[2] / "deploy" / "otel" / "collector.yaml"


def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return loaded


def test_every_pipeline_uses_only_defined_components() -> None:
    document = config()
    pipelines = document["service"]["pipelines"]
    assert set(pipelines) == {"traces", "metrics"}
    for name, pipeline in pipelines.items():
        for part, defined in (
            ("receivers", "receivers"),
            ("processors", "processors"),
            ("exporters", "exporters"),
        ):
            for component in pipeline.get(part, []):
                assert component in document[defined], (name, component)
    for extension in document["service"].get("extensions", []):
        assert extension in document["extensions"]


def test_spans_come_in_by_otlp_http_and_go_out_by_otlp() -> None:
    document = config()
    assert document["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    assert document["service"]["pipelines"]["traces"]["receivers"] == ["otlp"]
    assert all(
        exporter.startswith("otlp")
        for exporter in document["service"]["pipelines"]["traces"]["exporters"]
    )


def test_the_services_metrics_are_scraped_on_their_ports() -> None:
    (job,) = config()["receivers"]["prometheus"]["config"]["scrape_configs"]
    (targets,) = [group["targets"] for group in job["static_configs"]]
    with_metrics = [s for s in SERVICES if s.name != "console"]  # the console serves pages only
    assert sorted(targets) == sorted(f"{s.name}:{s.port}" for s in with_metrics)
