"""The vendored ISO 20022 schemas (see schemas/NOTICE.md), compiled once per process."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from lxml import etree

PAIN_001 = "pain.001.001.09"
CAMT_054 = "camt.054.001.06"
MESSAGE_NAMESPACE_PREFIX = "urn:iso:std:iso:20022:tech:xsd:"


def namespace(message: str) -> str:
    """`urn:iso:std:iso:20022:tech:xsd:<message>`, the target namespace of a message."""
    return MESSAGE_NAMESPACE_PREFIX + message


@cache
def schema(message: str) -> etree.XMLSchema:
    """The compiled XSD of `message` (e.g. `PAIN_001`), read from the package's data."""
    # The schemas are our own files, but a hardened parser costs nothing here either.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    source = files(__package__ or __name__).joinpath("schemas", f"{message}.xsd")
    with source.open("rb") as xsd:
        return etree.XMLSchema(etree.parse(xsd, parser))
