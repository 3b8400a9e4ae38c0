"""The pain.001.001.09 bank file: valid XML, resumable byte for byte, bounded memory."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from services.payments.iso20022.pain001 import (
    CreditTransfer,
    Debtor,
    FileHeader,
    Pain001File,
    TotalsMismatch,
)
from services.payments.iso20022.xsd import PAIN_001, namespace, schema

NS = {"p": namespace(PAIN_001)}
CREATED = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
AGENCY = Debtor("DOST Agentliyi & <Əmək> Nazirliyi", "AZ05NABZ00000000137010000001", "NABZAZ2X")
IBAN = "AZ21NABZ00000000137010001944"


def transfer(number: int, amount: str = "280.00", name: str = "Aysel Məmmədova") -> CreditTransfer:
    return CreditTransfer(
        end_to_end_id=f"PI-2026-11-{number:08d}",
        amount=Decimal(amount),
        creditor_name=name,
        creditor_iban=IBAN,
        remittance=f"DOST old_age_pension 2026-11 {number}",
    )


def header_for(transfers: list[CreditTransfer], debtor: Debtor = AGENCY) -> FileHeader:
    return FileHeader(
        message_id="payment-run-2026-11",
        created_at=CREATED,
        payment_information_id="payment-run-2026-11",
        requested_execution_date=date(2026, 11, 25),
        debtor=debtor,
        number_of_transactions=len(transfers),
        control_sum=sum((t.amount for t in transfers), Decimal(0)),
    )


def write_in_one_go(path: Path, header: FileHeader, transfers: list[CreditTransfer]) -> bytes:
    bank_file = Pain001File(path, header)
    bank_file.finish(bank_file.append(bank_file.start(), transfers))
    return path.read_bytes()


FEW = [
    transfer(1, "280.00", "Ağa & Şəms <MMC>"),
    transfer(2, "1234.5", "Gülşən Əliyeva"),
    transfer(3, "0.01", 'Rəşad "Çələbi" Qasımov'),  # noqa: RUF001 (Azerbaijani dotless i)
    CreditTransfer("PI-2026-11-00000004", Decimal("600"), "Ülvi Hüseynov", IBAN, "ə" * 200),
]


def test_a_file_of_a_few_transfers_is_valid_pain001_and_carries_totals_ids_and_amounts(
    tmp_path: Path,
) -> None:
    document = etree.fromstring(write_in_one_go(tmp_path / "run.xml", header_for(FEW), FEW))

    schema(PAIN_001).assertValid(document)
    assert document.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:NbOfTxs", namespaces=NS) == "4"
    assert document.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum", namespaces=NS) == "2114.51"
    payment = document.find("p:CstmrCdtTrfInitn/p:PmtInf", NS)
    assert payment is not None
    assert payment.findtext("p:PmtMtd", namespaces=NS) == "TRF"
    assert payment.findtext("p:NbOfTxs", namespaces=NS) == "4"
    assert payment.findtext("p:CtrlSum", namespaces=NS) == "2114.51"
    assert payment.findtext("p:ReqdExctnDt/p:Dt", namespaces=NS) == "2026-11-25"
    assert payment.findtext("p:Dbtr/p:Nm", namespaces=NS) == AGENCY.name
    assert payment.findtext("p:DbtrAgt/p:FinInstnId/p:BICFI", namespaces=NS) == "NABZAZ2X"
    transactions = payment.findall("p:CdtTrfTxInf", NS)
    assert [t.findtext("p:PmtId/p:EndToEndId", namespaces=NS) for t in transactions] == [
        t.end_to_end_id for t in FEW
    ]
    amounts = [t.find("p:Amt/p:InstdAmt", NS) for t in transactions]
    assert [(a.text, a.get("Ccy")) for a in amounts if a is not None] == [
        ("280.00", "AZN"),
        ("1234.50", "AZN"),
        ("0.01", "AZN"),
        ("600.00", "AZN"),
    ]
    assert [t.findtext("p:Cdtr/p:Nm", namespaces=NS) for t in transactions] == [
        t.creditor_name for t in FEW
    ]
    assert transactions[3].findtext("p:RmtInf/p:Ustrd", namespaces=NS) == "ə" * 140


def test_the_text_is_escaped_and_utf8(tmp_path: Path) -> None:
    raw = write_in_one_go(tmp_path / "run.xml", header_for(FEW), FEW)

    assert raw.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert "<Nm>Ağa &amp; Şəms &lt;MMC&gt;</Nm>".encode() in raw


def test_without_a_bic_the_debtor_agent_is_not_provided(tmp_path: Path) -> None:
    header = header_for(FEW, Debtor("DOST Agentliyi", AGENCY.iban))
    document = etree.fromstring(write_in_one_go(tmp_path / "run.xml", header, FEW))

    schema(PAIN_001).assertValid(document)
    agent = "p:CstmrCdtTrfInitn/p:PmtInf/p:DbtrAgt/p:FinInstnId"
    assert document.findtext(f"{agent}/p:Othr/p:Id", namespaces=NS) == "NOTPROVIDED"
    assert document.find(f"{agent}/p:BICFI", NS) is None


def test_written_in_steps_with_crashes_the_file_is_byte_identical_to_one_written_in_one_go(
    tmp_path: Path,
) -> None:
    transfers = [transfer(n, f"{100 + n}.{n % 100:02d}") for n in range(1, 31)]
    first, second, third = transfers[:10], transfers[10:20], transfers[20:]
    header = header_for(transfers)
    expected = write_in_one_go(tmp_path / "one-go.xml", header, transfers)

    path = tmp_path / "steps.xml"
    # Every step builds its own writer and header, as a resumed run in a new process would.
    later = replace(header, created_at=CREATED + timedelta(hours=1))
    after_header = Pain001File(path, header).start()
    after_first = Pain001File(path, later).append(after_header, first)
    with Pain001File(path, header).partial_path.open("ab") as partial:
        partial.write(b"      <CdtTrfTxInf><PmtId><EndToE")  # killed while writing
    after_second = Pain001File(path, later).append(after_first, second)
    Pain001File(path, later).append(after_second, third[:5])  # killed before the commit
    after_third = Pain001File(path, later).append(after_second, third)
    Pain001File(path, later).finish(after_third)

    assert path.read_bytes() == expected
    assert not Pain001File(path, header).partial_path.exists()


def test_a_chunk_that_fails_half_way_leaves_nothing_behind_and_can_be_repeated(
    tmp_path: Path,
) -> None:
    transfers = [transfer(n) for n in range(1, 6)]
    header = header_for(transfers)
    expected = write_in_one_go(tmp_path / "one-go.xml", header, transfers)
    path = tmp_path / "steps.xml"
    bank_file = Pain001File(path, header)
    offset = bank_file.start()

    def failing() -> Iterator[CreditTransfer]:
        yield from transfers[:3]
        raise ConnectionError("database went away")

    with pytest.raises(ConnectionError):
        bank_file.append(offset, failing())
    assert bank_file.partial_path.stat().st_size == offset

    bank_file.finish(bank_file.append(offset, iter(transfers)))
    assert path.read_bytes() == expected


def test_finish_repeated_after_it_succeeded_returns_the_same_file(tmp_path: Path) -> None:
    bank_file = Pain001File(tmp_path / "run.xml", header_for(FEW))
    offset = bank_file.append(bank_file.start(), FEW)
    finished = bank_file.finish(offset)
    content = finished.read_bytes()

    assert bank_file.finish(offset) == finished
    assert finished.read_bytes() == content
    with pytest.raises(FileExistsError):
        bank_file.start()


def test_finish_refuses_a_file_whose_transfers_do_not_match_the_header(tmp_path: Path) -> None:
    bank_file = Pain001File(tmp_path / "run.xml", header_for(FEW))
    offset = bank_file.append(bank_file.start(), FEW[:3])

    with pytest.raises(TotalsMismatch, match=r"holds 3 transfers totalling 1514\.51 AZN"):
        bank_file.finish(offset)
    assert not bank_file.final_path.exists()
    assert bank_file.partial_path.exists()


def test_an_offset_no_step_returned_is_refused(tmp_path: Path) -> None:
    bank_file = Pain001File(tmp_path / "run.xml", header_for(FEW))
    after_header = bank_file.start()
    offset = bank_file.append(after_header, FEW[:2])

    with pytest.raises(ValueError, match="not the end of a transfer"):
        bank_file.append(offset - 3, FEW[2:])
    with pytest.raises(ValueError, match="never committed"):
        bank_file.append(offset + 100, FEW[2:])
    with pytest.raises(ValueError, match="never committed"):
        bank_file.append(after_header - 1, FEW)
    assert bank_file.partial_path.stat().st_size == offset


def test_a_partial_file_of_another_run_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.xml"
    offset = Pain001File(path, header_for(FEW)).start()
    other_run = replace(header_for(FEW), message_id="payment-run-2026-12")

    with pytest.raises(ValueError, match="another file"):
        Pain001File(path, other_run).append(offset, FEW)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"end_to_end_id": "X" * 36}, "end_to_end_id"),
        ({"end_to_end_id": ""}, "end_to_end_id"),
        ({"amount": Decimal("0.00")}, "amount"),
        ({"amount": Decimal("-5.00")}, "amount"),
        ({"amount": Decimal("10.005")}, "amount"),
        ({"amount": Decimal("NaN")}, "amount"),
        ({"amount": Decimal("1E16")}, "amount"),
        ({"creditor_iban": "AZ21 NABZ 0000 0000 1370 1000 1944"}, "creditor_iban"),
        ({"creditor_iban": "az21NABZ00000000137010001944"}, "creditor_iban"),
        ({"creditor_name": "N" * 141}, "creditor_name"),
        ({"creditor_name": "  "}, "creditor_name"),
        ({"creditor_name": "Aysel\x00"}, "creditor_name"),
        ({"remittance": "pension \x1b"}, "remittance"),
    ],
)
def test_a_transfer_the_xsd_would_reject_raises_naming_the_field(
    change: dict[str, object], field: str
) -> None:
    valid = {
        "end_to_end_id": "PI-1",
        "amount": Decimal("280.00"),
        "creditor_name": "Aysel",
        "creditor_iban": IBAN,
        "remittance": "pension",
    }

    with pytest.raises(ValueError, match=rf"\b{field}\b"):
        CreditTransfer(**{**valid, **change})  # type: ignore[arg-type]


def test_amounts_equal_to_two_decimals_are_accepted() -> None:
    assert transfer(1, "280.000").amount == Decimal("280")
    assert transfer(1, "2.8E+2").amount == Decimal("280")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"message_id": "M" * 36}, "message_id"),
        ({"payment_information_id": "P" * 36}, "payment_information_id"),
        ({"created_at": datetime(2026, 11, 24, 9, 30)}, "created_at"),  # noqa: DTZ001
        ({"requested_execution_date": CREATED}, "requested_execution_date"),
        ({"number_of_transactions": 0}, "number_of_transactions"),
        ({"control_sum": Decimal("1.001")}, "control_sum"),
    ],
)
def test_a_header_the_xsd_would_reject_raises_naming_the_field(
    change: dict[str, object], field: str
) -> None:
    with pytest.raises(ValueError, match=rf"\b{field}\b"):
        replace(header_for(FEW), **change)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("debtor", "field"),
    [
        ({"iban": "AZ05-NABZ"}, "iban"),
        ({"bic": "NABZ AZ2X"}, "bic"),
        ({"bic": "NABZAZ2"}, "bic"),
        ({"name": "D" * 141}, "name"),
    ],
)
def test_a_debtor_the_xsd_would_reject_raises_naming_the_field(
    debtor: dict[str, str], field: str
) -> None:
    with pytest.raises(ValueError, match=rf"Debtor\.{field}\b"):
        replace(AGENCY, **debtor)


def test_appending_200000_transfers_from_a_generator_keeps_memory_bounded(tmp_path: Path) -> None:
    count, amount = 200_000, Decimal("316.45")

    def transfers() -> Iterator[CreditTransfer]:
        for number in range(count):
            yield CreditTransfer(f"PI-{number}", amount, "Gülşən & Co", IBAN, "DOST 2026-11")

    header = replace(header_for(FEW), number_of_transactions=count, control_sum=amount * count)
    bank_file = Pain001File(tmp_path / "run.xml", header)
    offset = bank_file.start()

    tracemalloc.start()
    try:
        offset = bank_file.append(offset, transfers())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 20 * 1024 * 1024
    assert offset > 200 * count  # the chunk written is far larger than the peak
    assert bank_file.finish(offset).stat().st_size > offset
