"""Messages rendered from the template files in the citizen's language.

`templates/<language>/<kind>.j2` holds four blocks: `sms`, `subject`, `text` and `html`
(the HTML block is autoescaped and set in `templates/email.html.j2`);
`templates/<language>/words.toml` names the benefits and says each rejection reason in
plain words. Amounts, dates and currency are formatted for the language with Babel. A
missing template, block or variable is an error, never a blank in a citizen's message."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.numbers import format_currency
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template

from services.notifications.domain.notices import Kind

TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = ("az", "ru", "en")
BLOCKS = ("sms", "subject", "text", "html")
_MONEY = "#,##0.00\u00a0¤"  # 280,00 ₼ / 280,00 AZN / 280.00 AZN: the amount first everywhere
_DATE = "d MMMM y"  # 1 dekabr 2026 / 1 декабря 2026 / 1 December 2026


@dataclass(frozen=True)
class Message:
    """One message in one language: the SMS text, and the e-mail's subject and bodies."""

    language: str
    sms: str
    subject: str
    text: str
    html: str


class Renderer:
    """Renders a notice's facts into a :class:`Message` in a language."""

    def __init__(self, templates: Path = TEMPLATES) -> None:
        self.templates = templates
        self._text = self._environment(autoescape=False)
        self._html = self._environment(autoescape=True)

    def _environment(self, *, autoescape: bool) -> Environment:
        environment = Environment(
            loader=FileSystemLoader(self.templates),
            undefined=StrictUndefined,
            autoescape=autoescape,  # noqa: S701 - SMS and plain text are not HTML
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        return environment

    def render(self, kind: Kind, language: str, facts: Mapping[str, Any]) -> Message:
        if language not in LANGUAGES:
            language = "az"
        words = _words(self.templates, language)
        variables = {**_localised(facts, language, words), "lang": language}
        name = f"{language}/{kind.value}.j2"
        parts = {
            block: _block(self._text.get_template(name), block, variables).strip()
            for block in ("sms", "subject", "text")
        }
        # A no-break space alone would take an English SMS out of the GSM alphabet.
        parts["sms"] = parts["sms"].replace("\u00a0", " ")
        body = _block(self._html.get_template(name), "html", variables)
        html = self._html.get_template("email.html.j2").render(
            lang=language, subject=parts["subject"], body=body
        )
        return Message(language, parts["sms"], parts["subject"], parts["text"] + "\n", html)

    def page(self, page: str, language: str, variables: Mapping[str, Any]) -> str:
        """A page of the rating form (`form`, `thanks`, `used`, `invalid`) in `language`."""
        if language not in LANGUAGES:
            language = "az"
        template = self._html.get_template(f"{language}/rating_page.j2")
        title = _block(template, "title", variables).strip()
        body = _block(template, page, variables)
        return self._html.get_template("email.html.j2").render(
            lang=language, subject=title, body=body
        )


def _block(template: Template, block: str, variables: Mapping[str, Any]) -> str:
    if block not in template.blocks:
        raise LookupError(f"template {template.name} has no block {block!r}")
    context = template.new_context(dict(variables))
    return "".join(template.blocks[block](context))


@cache
def _words(templates: Path, language: str) -> dict[str, dict[str, str]]:
    with (templates / language / "words.toml").open("rb") as file:
        return tomllib.load(file)


def _localised(
    facts: Mapping[str, Any], language: str, words: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """The facts with money, dates, the benefit and reasons in the language's words."""
    out: dict[str, Any] = {}
    for name, value in facts.items():
        if name == "benefit":
            out[name] = words["benefits"][str(value)]
        elif name == "reasons":
            phrases = words["reasons"]
            out[name] = [phrases.get(str(code), phrases["other"]) for code in value]
        elif name in ("amount",):
            out[name] = format_currency(
                Decimal(str(value)), "AZN", format=_MONEY, locale=language, currency_digits=True
            )
        elif name.endswith("_date") or name.endswith("_on"):
            out[name] = format_date(date.fromisoformat(str(value)), _DATE, locale=language)
        else:
            out[name] = value
    return out
