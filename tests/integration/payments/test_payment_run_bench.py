"""The payment-run benchmark at a small size, so it keeps working (the full-size figures
are in bench/README.md)."""

from __future__ import annotations

from pathlib import Path

from bench.payment_run import measure
from tests.infrastructure import Infrastructure


async def test_the_payment_run_benchmark_pays_every_seeded_entitlement_once(
    infrastructure: Infrastructure, tmp_path: Path
) -> None:
    figures = await measure(infrastructure.database_url, 3000, 700, tmp_path, [])

    assert figures.entitlements == 3000
    assert figures.instructions == 3000
    assert figures.per_second > 0
    assert figures.peak_pss_mib >= figures.runner_peak_mib / 4 > 0
    bank_file = tmp_path / "pain001-2026-12.xml"
    assert bank_file.read_bytes().count(b"<CdtTrfTxInf>") == 3000
