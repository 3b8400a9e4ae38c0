"""Reading the bank's ISO 20022 `camt.054.001.06` debit/credit notification.

A treasury without Kafka answers a payment file with a camt.054 document for the agency's
account. What it says about our transfers, as banks report them (ISO 20022 camt.05x usage
guidelines, the SEPA and CGI-MP implementation guides):

- A transfer was paid when a booked (`Sts` = `BOOK`) debit shows it: `TxDtls` with
  `CdtDbtInd` = `DBIT` and our instruction id in `Refs/EndToEndId`. With batch booking one
  `Ntry` carries the file's total and one `NtryDtls/TxDtls` per transfer; each counts.
- A transfer came back when a booked credit carries return information: `TxDtls` with
  `CdtDbtInd` = `CRDT`, `RtrInf/Rsn/Cd` (an ISO ExternalReturnReason1Code such as `AC04`)
  or `RtrInf/Rsn/Prtry`, optional `RtrInf/AddtlInf` text, and the original transfer's id in
  `Refs/EndToEndId`; the bank transaction code is usually PMNT/ICDT/RRTN.
- A booked credit marked as a reversal (`RvslInd` = true) without return information undoes
  the debit of that transfer: it is read as a return too ("reversed by the bank").

Everything else is not about our transfers' outcome and is skipped: pending or information
entries (`PDNG`, `INFO`), other credits (e.g. funding of the account), debits without an
end-to-end id or with `NOTPROVIDED`, and entries the bank reports without transaction
details (those cannot be matched to instructions). A booked entry needs its booking date:
`BookgDt/DtTm`, or `BookgDt/Dt` read as 00:00 Asia/Baku.

The document must be a camt.054.001.06 valid against the official XSD
(schemas/camt.054.001.06.xsd); anything else, and any document with a DOCTYPE, is refused
with `InvalidStatement`. The parser never loads a DTD, never resolves an entity and never
touches the network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from lxml import etree

from services.payments.iso20022.xsd import CAMT_054, MESSAGE_NAMESPACE_PREFIX, namespace, schema

BAKU = ZoneInfo("Asia/Baku")
_NS = {"c": namespace(CAMT_054)}
_MAX_REPORTED_ERRORS = 10
_NAMESPACE_IN_NAME = re.compile(r"\{[^}\s',]+\}")  # {urn:...}Sts, not {'BOOK', 'PDNG'}
_POSITION = re.compile(r", line \d+, column \d+$")
_DATE_WITH_ZONE = re.compile(r"(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:\d{2})?")

# Names of the ExternalReturnReason1Code values banks most often send for credit transfers
# (ISO 20022 external code sets), used when the bank adds no text of its own.
RETURN_REASONS = {
    "AC01": "incorrect account number",
    "AC03": "invalid creditor account number",
    "AC04": "account closed",
    "AC06": "account blocked",
    "AG01": "transaction forbidden",
    "AG02": "invalid bank operation code",
    "AM05": "duplicate payment",
    "BE01": "inconsistent with end customer",
    "BE04": "missing creditor address",
    "CUST": "requested by customer",
    "FOCR": "following cancellation request",
    "MD07": "end customer deceased",
    "MS02": "not specified, customer generated",
    "MS03": "not specified, agent generated",
    "RC01": "bank identifier incorrect",
    "RR04": "regulatory reason",
}


class InvalidStatement(ValueError):
    """The document is not a camt.054.001.06 notification we can read; says what is wrong."""


@dataclass(frozen=True)
class Settlement:
    """Our transfer was booked as a debit of the agency's account."""

    end_to_end_id: str
    booked_at: datetime


@dataclass(frozen=True)
class Return:
    """Our transfer came back; `end_to_end_id` is the original transfer's."""

    end_to_end_id: str
    reason: str
    returned_at: datetime


def read_debit_notification(document: bytes) -> list[Settlement | Return]:
    """Settlements and returns of our transfers in a camt.054.001.06 document, in document
    order; raises `InvalidStatement` for anything but a valid camt.054.001.06."""
    root = _parse(document)
    outcomes: list[Settlement | Return] = []
    for entry in root.iterfind("c:BkToCstmrDbtCdtNtfctn/c:Ntfctn/c:Ntry", _NS):
        if entry.findtext("c:Sts", namespaces=_NS) != "BOOK":
            continue
        booked_at = _booking_time(entry)
        reversal = entry.findtext("c:RvslInd", namespaces=_NS) in ("true", "1")
        for transaction in entry.iterfind("c:NtryDtls/c:TxDtls", _NS):
            outcome = _outcome(transaction, booked_at, reversal=reversal)
            if outcome is not None:
                outcomes.append(outcome)
    return outcomes


def _parse(document: bytes) -> etree._Element:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
    )
    try:
        root = etree.fromstring(document, parser)
    except etree.XMLSyntaxError as error:
        reason = _POSITION.sub("", error.msg)
        raise InvalidStatement(f"not well-formed XML: line {error.lineno}: {reason}") from None
    if root is None:
        raise InvalidStatement("not an XML document")
    tree = root.getroottree()
    if tree.docinfo.doctype:
        raise InvalidStatement(
            f"a DOCTYPE is not accepted (no DTDs or entities in bank files): {tree.docinfo.doctype}"
        )
    expected = f"{{{namespace(CAMT_054)}}}Document"
    if root.tag != expected:
        raise InvalidStatement(f"not a {CAMT_054} document: the root is {_describe(root)}")
    try:
        schema(CAMT_054).assertValid(tree)
    except etree.DocumentInvalid as invalid:
        errors = [
            f"line {error.line}: {_NAMESPACE_IN_NAME.sub('', error.message)}"
            for error in invalid.error_log
        ]
        more = len(errors) - _MAX_REPORTED_ERRORS
        listed = "; ".join(errors[:_MAX_REPORTED_ERRORS]) + (
            f"; and {more} more" if more > 0 else ""
        )
        raise InvalidStatement(f"not valid against the {CAMT_054} XSD: {listed}") from None
    return root


def _describe(root: etree._Element) -> str:
    qualified = etree.QName(root)
    if qualified.namespace and qualified.namespace.startswith(MESSAGE_NAMESPACE_PREFIX):
        message = qualified.namespace.removeprefix(MESSAGE_NAMESPACE_PREFIX)
        return f"an ISO 20022 {message} {qualified.localname}"
    return f"<{qualified.localname}> in namespace {qualified.namespace or '(none)'}"


def _booking_time(entry: etree._Element) -> datetime:
    moment = entry.findtext("c:BookgDt/c:DtTm", namespaces=_NS)
    day = entry.findtext("c:BookgDt/c:Dt", namespaces=_NS)
    try:
        if moment is not None:
            booked_at = datetime.fromisoformat(moment.strip())
            return booked_at if booked_at.tzinfo is not None else booked_at.replace(tzinfo=BAKU)
        if day is not None:
            return _start_of_day(day.strip())
    except ValueError as error:
        raise InvalidStatement(f"line {entry.sourceline}: unreadable BookgDt: {error}") from None
    raise InvalidStatement(f"line {entry.sourceline}: a booked entry (BOOK) without BookgDt")


def _start_of_day(value: str) -> datetime:
    parts = _DATE_WITH_ZONE.fullmatch(value)
    if parts is None:
        raise ValueError(f"{value!r} is not a date")
    day, zone = parts.groups()
    return datetime.combine(date.fromisoformat(day), time(), tzinfo=_zone(zone))


def _zone(designator: str | None) -> tzinfo:
    if designator is None:
        return BAKU
    if designator == "Z":
        return UTC
    sign = -1 if designator[0] == "-" else 1
    hours, minutes = designator[1:].split(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))


def _outcome(
    transaction: etree._Element, booked_at: datetime, *, reversal: bool
) -> Settlement | Return | None:
    end_to_end_id = (transaction.findtext("c:Refs/c:EndToEndId", namespaces=_NS) or "").strip()
    if not end_to_end_id or end_to_end_id == "NOTPROVIDED":
        return None
    direction = transaction.findtext("c:CdtDbtInd", namespaces=_NS)
    return_information = transaction.find("c:RtrInf", _NS)
    if direction == "CRDT" and return_information is not None:
        return Return(end_to_end_id, _return_reason(return_information), booked_at)
    if direction == "CRDT" and reversal:
        return Return(end_to_end_id, _reversal_reason(transaction), booked_at)
    if direction == "DBIT" and not reversal and return_information is None:
        return Settlement(end_to_end_id, booked_at)
    return None


def _return_reason(return_information: etree._Element) -> str:
    code = return_information.findtext("c:Rsn/c:Cd", namespaces=_NS)
    proprietary = return_information.findtext("c:Rsn/c:Prtry", namespaces=_NS)
    text = " ".join(
        line.text.strip()
        for line in return_information.iterfind("c:AddtlInf", _NS)
        if line.text and line.text.strip()
    )
    if code:
        return f"{code} {text or RETURN_REASONS.get(code, '')}".strip()
    return " ".join(part for part in (proprietary, text) if part) or "returned, no reason given"


def _reversal_reason(transaction: etree._Element) -> str:
    text = (transaction.findtext("c:AddtlTxInf", namespaces=_NS) or "").strip()
    return f"reversed by the bank: {text}" if text else "reversed by the bank"
