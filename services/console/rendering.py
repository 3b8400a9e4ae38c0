"""Pages rendered from the template files, in the user's language: the words of each
language in `templates/words/<language>.toml`, dates and money formatted with Babel."""

from __future__ import annotations

import tomllib
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_currency
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
AGENCY_ZONE = ZoneInfo("Asia/Baku")


@cache
def words(language: str) -> dict[str, Any]:
    with (TEMPLATES / "words" / f"{language}.toml").open("rb") as file:
        return tomllib.load(file)


class Pages:
    def __init__(self, templates: Path = TEMPLATES) -> None:
        self.environment = Environment(
            loader=FileSystemLoader(templates),
            autoescape=select_autoescape(["html", "j2"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, page: str, language: str, **variables: Any) -> str:
        said = words(language)

        def when(moment: str | datetime | None) -> str:
            if not moment:
                return ""
            value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
            return format_datetime(value.astimezone(AGENCY_ZONE), "d MMM y HH:mm", locale=language)

        def money(amount: str | Decimal | None) -> str:
            if amount is None:
                return ""
            return format_currency(Decimal(str(amount)), "AZN", locale=language)

        def say(key: str) -> str:
            return str(said.get(key, key))

        template = self.environment.get_template(f"{page}.html.j2")
        return template.render(
            **variables, lang=language, t=say, when=when, money=money, words=said
        )
