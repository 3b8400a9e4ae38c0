"""Reading the bank's camt.054.001.06 answer: settlements, returns, and what is refused."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from lxml import etree

from deploy.journey.bank import debit_notification
from services.payments.iso20022.camt054 import (
    InvalidStatement,
    Return,
    Settlement,
    read_debit_notification,
)
from services.payments.iso20022.pain001 import CreditTransfer, Debtor, FileHeader, Pain001File
from services.payments.iso20022.xsd import CAMT_054, schema

BAKU = ZoneInfo("Asia/Baku")
ACCOUNT = "AZ05NABZ00000000137010000001"
BOOKED_ON = date(2026, 11, 30)
MIDNIGHT = datetime(2026, 11, 30, tzinfo=BAKU)


def notification(**overrides: object) -> bytes:
    arguments: dict[str, object] = {
        "settled": [("PI-1", Decimal("280.00")), ("PI-2", Decimal("316.50"))],
        "returned": [("PI-3", Decimal("600.00"), "AC04")],
        "account_iban": ACCOUNT,
        "booked_on": BOOKED_ON,
    }
    return debit_notification(**{**arguments, **overrides})  # type: ignore[arg-type]


def test_the_simulated_bank_document_is_valid_camt054() -> None:
    document = etree.fromstring(notification(pending=[("PI-9", Decimal("1.00"))]))

    schema(CAMT_054).assertValid(document)


def test_booked_debits_are_settlements_and_credits_with_return_information_are_returns() -> None:
    outcomes = read_debit_notification(notification())

    assert outcomes == [
        Settlement("PI-1", MIDNIGHT),
        Settlement("PI-2", MIDNIGHT),
        Return("PI-3", "AC04 account closed", MIDNIGHT),
    ]
    assert all(o.booked_at.utcoffset() is not None for o in outcomes if isinstance(o, Settlement))


def test_a_batch_booked_entry_yields_one_settlement_per_transaction() -> None:
    settled = [(f"PI-{n}", Decimal(f"{n}.00")) for n in range(1, 6)]
    document = notification(settled=settled, returned=[])

    assert document.count(b"<Ntry>") == 1
    assert read_debit_notification(document) == [Settlement(i, MIDNIGHT) for i, _ in settled]


def test_entries_booked_one_by_one_are_read_alike() -> None:
    document = notification(batch_booking=False)

    assert document.count(b"<Ntry>") == 3
    assert read_debit_notification(document) == read_debit_notification(notification())


def test_the_return_reason_is_the_code_with_the_banks_text_or_the_iso_name() -> None:
    document = notification(
        settled=[],
        returned=[
            ("PI-3", Decimal("1.00"), "MD07"),
            ("PI-4", Decimal("1.00"), "AC01"),
            ("PI-5", Decimal("1.00"), "XY99"),
        ],
        return_texts={"PI-4": "Hesab nömrəsi səhvdir"},
    )

    assert [r.reason for r in read_debit_notification(document) if isinstance(r, Return)] == [
        "MD07 end customer deceased",
        "AC01 Hesab nömrəsi səhvdir",
        "XY99",
    ]


def test_a_reversed_debit_is_a_return() -> None:
    document = notification(settled=[], returned=[], reversed_debits=[("PI-7", Decimal("5.00"))])

    assert read_debit_notification(document) == [Return("PI-7", "reversed by the bank", MIDNIGHT)]


def test_entries_not_booked_are_ignored() -> None:
    document = notification(pending=[("PI-8", Decimal("9.00"))])

    assert "PI-8" not in {o.end_to_end_id for o in read_debit_notification(document)}
    assert len(read_debit_notification(document)) == 3


def test_a_booking_time_is_taken_when_the_bank_gives_one() -> None:
    document = notification(returned=[]).replace(
        b"<BookgDt>\n          <Dt>2026-11-30</Dt>",
        b"<BookgDt>\n          <DtTm>2026-11-30T14:05:00+04:00</DtTm>",
    )

    assert read_debit_notification(document)[0] == Settlement(
        "PI-1", datetime(2026, 11, 30, 14, 5, tzinfo=BAKU)
    )


def test_a_credit_without_return_information_is_not_about_our_transfers() -> None:
    document = notification(settled=[], returned=[("PI-3", Decimal("1.00"), "AC04")])
    without_return = etree.fromstring(document)
    for return_information in without_return.iter("{*}RtrInf"):
        parent = return_information.getparent()
        assert parent is not None
        parent.remove(return_information)

    assert read_debit_notification(etree.tostring(without_return)) == []


def test_a_pain001_document_is_refused(tmp_path: Path) -> None:
    transfer = CreditTransfer("PI-1", Decimal("1.00"), "Aysel", ACCOUNT, "pension")
    header = FileHeader(
        "run",
        MIDNIGHT,
        "run",
        BOOKED_ON,
        Debtor("DOST", ACCOUNT),
        1,
        Decimal("1.00"),
    )
    bank_file = Pain001File(tmp_path / "run.xml", header)
    path = bank_file.finish(bank_file.append(bank_file.start(), [transfer]))

    with pytest.raises(InvalidStatement, match=r"not a camt\.054\.001\.06.*pain\.001\.001\.09"):
        read_debit_notification(path.read_bytes())


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (b"", "not well-formed XML"),
        (b"<Document><Ntry></Document>", r"not well-formed XML: line 1"),
        (b'<?xml version="1.0"?>\n<Document>\n  <a>\n</Document>', r"line \d+"),
        (b"<Document xmlns='urn:example'/>", r"not a camt\.054\.001\.06.*urn:example"),
    ],
)
def test_malformed_or_foreign_xml_is_refused(document: bytes, problem: str) -> None:
    with pytest.raises(InvalidStatement, match=problem):
        read_debit_notification(document)


def test_a_document_with_an_external_entity_is_refused_without_reading_it(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top-secret-value")
    valid = notification().decode()
    declaration, body = valid.split("\n", 1)
    hostile = (
        f"{declaration}\n"
        f'<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
        f"{body.replace('PI-1', '&xxe;', 1)}"
    ).encode()

    with pytest.raises(InvalidStatement, match="DOCTYPE") as refused:
        read_debit_notification(hostile)
    assert "top-secret-value" not in str(refused.value)


def test_an_entity_expansion_bomb_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>\n'
        b"<lolz>&lol3;</lolz>"
    )

    with pytest.raises(InvalidStatement, match="DOCTYPE"):
        read_debit_notification(bomb)


def test_a_camt054_that_violates_the_xsd_is_refused_with_the_line() -> None:
    document = notification().replace(b"<Sts>BOOK</Sts>", b"<Sts>DONE</Sts>", 1)
    line = document[: document.index(b"<Sts>DONE")].count(b"\n") + 1

    with pytest.raises(InvalidStatement, match=rf"XSD: line {line}: Element 'Sts'.*'DONE'"):
        read_debit_notification(document)


def test_a_camt054_missing_a_mandatory_element_is_refused() -> None:
    document = notification().replace(b"<CdtDbtInd>DBIT</CdtDbtInd>", b"", 1)

    with pytest.raises(InvalidStatement, match=r"XSD: line \d+: .*CdtDbtInd"):
        read_debit_notification(document)


def test_a_booked_entry_without_a_booking_date_is_refused() -> None:
    raw = etree.fromstring(notification(returned=[]))
    for booking_date in raw.iter("{*}BookgDt"):
        parent = booking_date.getparent()
        assert parent is not None
        parent.remove(booking_date)

    with pytest.raises(InvalidStatement, match="without BookgDt"):
        read_debit_notification(etree.tostring(raw))
