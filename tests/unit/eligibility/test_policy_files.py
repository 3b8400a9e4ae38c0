"""Policy files are validated at start; adding a version needs no code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from services.eligibility.settings import DEFAULT_POLICY_DIR, PolicyFileError, load_policy_book


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    for path in DEFAULT_POLICY_DIR.glob("*.toml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_shipped_policies_load_with_2027_inheriting_from_2026() -> None:
    book, _ = load_policy_book(DEFAULT_POLICY_DIR)
    in_2027 = book.in_force(date(2027, 6, 1))
    assert in_2027.version == "2027"
    assert in_2027.old_age_pension.base_amount == Decimal("294.00")
    assert in_2027.unemployment_benefit == book.in_force(date(2026, 6, 1)).unemployment_benefit


def test_a_new_version_is_a_new_file(policy_dir: Path) -> None:
    (policy_dir / "2028.toml").write_text(
        'version = "2028"\neffective_from = 2028-01-01\nextends = "2027"\n'
        '[childbirth_allowance]\namount = "600.00"\n'
    )
    book, _ = load_policy_book(policy_dir)
    assert book.in_force(date(2028, 1, 1)).childbirth_allowance.amount == Decimal("600.00")
    assert book.in_force(date(2027, 12, 31)).childbirth_allowance.amount == Decimal("500.00")


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (
            'version = "x"\neffective_from = 2028-01-01\nextends = "2027"\n[old_age_pension]\nbase_amount = 294.5\n',
            "not floats",
        ),
        ('version = "x"\neffective_from = 2028-01-01\nextends = "1999"\n', "unknown version"),
        ('version = "x"\neffective_from = 2028-01-01\n', "old_age_pension"),
        (
            'version = "x"\neffective_from = 2028-01-01\nextends = "2027"\n[old_age_pension]\nminimum_age = -1\n',
            "minimum_age",
        ),
        (
            'version = "x"\neffective_from = 2028-01-01\nextends = "2027"\n[old_age_pension]\nbonus = "1.00"\n',
            "bonus",
        ),
        ("version = \n", "x.toml"),
    ],
)
def test_a_bad_policy_file_stops_with_a_clear_message(
    policy_dir: Path, text: str, complaint: str
) -> None:
    (policy_dir / "x.toml").write_text(text)
    with pytest.raises(PolicyFileError, match=complaint):
        load_policy_book(policy_dir)


def test_two_versions_on_the_same_day_are_refused(policy_dir: Path) -> None:
    (policy_dir / "copy.toml").write_text(
        'version = "2027b"\neffective_from = 2027-01-01\nextends = "2027"\n'
    )
    with pytest.raises(PolicyFileError, match="same day"):
        load_policy_book(policy_dir)


def test_the_service_refuses_to_start_on_a_bad_policy_file(policy_dir: Path) -> None:
    (policy_dir / "2028.toml").write_text(
        'version = "2028"\neffective_from = 2028-01-01\nextends = "2031"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "services.eligibility"],
        env={**os.environ, "ELIGIBILITY_POLICY_DIR": str(policy_dir), "ELIGIBILITY_PORT": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "2028.toml extends unknown version '2031'" in result.stderr
