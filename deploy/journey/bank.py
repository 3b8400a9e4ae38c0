"""Playing the bank (in the demo and the tests): the camt.054.001.06 notification a bank
sends after a pain.001.

The document is built the way banks report a payment file (see the camt054 module): the
settled transfers as one booked debit entry with one `TxDtls` per transfer (batch booking)
or one entry each, each return as a booked credit entry with `RtrInf`. It is checked
against the official XSD before it is returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from lxml import etree

from services.payments.iso20022.xsd import CAMT_054, namespace, schema

BAKU = ZoneInfo("Asia/Baku")
CURRENCY = "AZN"
_NAMESPACE = namespace(CAMT_054)


def debit_notification(
    settled: Sequence[tuple[str, Decimal]],
    returned: Sequence[tuple[str, Decimal, str]],
    *,
    account_iban: str,
    booked_on: date,
    batch_booking: bool = True,
    pending: Sequence[tuple[str, Decimal]] = (),
    reversed_debits: Sequence[tuple[str, Decimal]] = (),
    return_texts: dict[str, str] | None = None,
) -> bytes:
    """A camt.054.001.06 document for `account_iban`, valid against the XSD.

    `settled`: (end-to-end id, amount) booked as debits on `booked_on`, in one batch entry
    or, with `batch_booking=False`, one entry each. `returned`: (end-to-end id of the
    original transfer, amount, ISO return reason code) booked as credits with `RtrInf`;
    `return_texts` maps an end-to-end id to the bank's `AddtlInf` for its return.
    `pending`: debits the bank has not booked yet (`PDNG`). `reversed_debits`: booked
    credits with `RvslInd` that undo earlier debits.
    """
    created_at = datetime.combine(booked_on, time(18), tzinfo=BAKU).isoformat()
    reference = f"NTF-{booked_on:%Y%m%d}"
    document = etree.Element(_tag("Document"), nsmap={None: _NAMESPACE})
    notification_message = _add(document, "BkToCstmrDbtCdtNtfctn")
    header = _add(notification_message, "GrpHdr")
    _add(header, "MsgId", reference)
    _add(header, "CreDtTm", created_at)
    notification = _add(notification_message, "Ntfctn")
    _add(notification, "Id", f"{reference}-1")
    _add(notification, "CreDtTm", created_at)
    account = _add(notification, "Acct")
    _add(_add(account, "Id"), "IBAN", account_iban)
    _add(account, "Ccy", CURRENCY)

    if settled and batch_booking:
        entry = _entry(notification, sum((a for _, a in settled), Decimal(0)), "DBIT", booked_on)
        details = _add(entry, "NtryDtls")
        batch = _add(details, "Btch")
        _add(batch, "NbOfTxs", str(len(settled)))
        for end_to_end_id, amount in settled:
            _transaction(details, end_to_end_id, amount, "DBIT")
    elif settled:
        for end_to_end_id, amount in settled:
            entry = _entry(notification, amount, "DBIT", booked_on)
            _transaction(_add(entry, "NtryDtls"), end_to_end_id, amount, "DBIT")
    for end_to_end_id, amount in pending:
        entry = _entry(notification, amount, "DBIT", booked_on, status="PDNG")
        _transaction(_add(entry, "NtryDtls"), end_to_end_id, amount, "DBIT")
    for end_to_end_id, amount, reason in returned:
        entry = _entry(notification, amount, "CRDT", booked_on, family="RRTN")
        transaction = _transaction(_add(entry, "NtryDtls"), end_to_end_id, amount, "CRDT")
        return_information = _add(transaction, "RtrInf")
        _add(_add(return_information, "Rsn"), "Cd", reason)
        if return_texts and end_to_end_id in return_texts:
            _add(return_information, "AddtlInf", return_texts[end_to_end_id])
    for end_to_end_id, amount in reversed_debits:
        entry = _entry(notification, amount, "CRDT", booked_on, reversal=True)
        _transaction(_add(entry, "NtryDtls"), end_to_end_id, amount, "CRDT")

    tree = etree.ElementTree(document)
    schema(CAMT_054).assertValid(tree)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _tag(name: str) -> str:
    return f"{{{_NAMESPACE}}}{name}"


def _add(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, _tag(name))
    element.text = text
    return element


def _amount(parent: etree._Element, amount: Decimal) -> None:
    _add(parent, "Amt", f"{amount:.2f}").set("Ccy", CURRENCY)


def _entry(
    notification: etree._Element,
    amount: Decimal,
    direction: str,
    booked_on: date,
    *,
    status: str = "BOOK",
    family: str = "DMCT",
    reversal: bool = False,
) -> etree._Element:
    entry = _add(notification, "Ntry")
    _amount(entry, amount)
    _add(entry, "CdtDbtInd", direction)
    if reversal:
        _add(entry, "RvslInd", "true")
    _add(entry, "Sts", status)
    _add(_add(entry, "BookgDt"), "Dt", booked_on.isoformat())
    _add(_add(entry, "ValDt"), "Dt", booked_on.isoformat())
    domain = _add(_add(entry, "BkTxCd"), "Domn")
    _add(domain, "Cd", "PMNT")
    transaction_family = _add(domain, "Fmly")
    _add(transaction_family, "Cd", "ICDT")
    _add(transaction_family, "SubFmlyCd", family)
    return entry


def _transaction(
    details: etree._Element, end_to_end_id: str, amount: Decimal, direction: str
) -> etree._Element:
    transaction = _add(details, "TxDtls")
    _add(_add(transaction, "Refs"), "EndToEndId", end_to_end_id)
    _amount(transaction, amount)
    _add(transaction, "CdtDbtInd", direction)
    return transaction
