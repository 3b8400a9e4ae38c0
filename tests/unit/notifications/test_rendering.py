"""Every message kind renders in every language, from the files, with nothing missing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from jinja2 import UndefinedError

from contracts.types import Benefit
from services.eligibility.domain.rules import REJECTION_REASONS
from services.notifications.domain.notices import Kind
from services.notifications.domain.sms import segments
from services.notifications.rendering import LANGUAGES, TEMPLATES, Renderer, _words

FACTS: dict[Kind, dict[str, Any]] = {
    Kind.APPLICATION_RECEIVED: {},
    Kind.APPROVED: {"amount": "280.00", "payment": "monthly", "start_date": "2026-12-01"},
    Kind.REJECTED: {"reasons": ["age_below_minimum", "insufficient_insurance_record"]},
    Kind.REFERRED_FOR_REVIEW: {},
    Kind.PAYMENT_SETTLED: {"amount": "1234.50", "settled_on": "2026-12-05"},
    Kind.PAYMENT_RETURNED: {"amount": "280.00"},
    Kind.SUSPENDED: {},
    Kind.ENDED: {"end_date": "2027-05-31"},
    Kind.WITHDRAWN: {},
}
LINK = "https://dost.gov.az/feedback/" + "x" * 48


def facts_of(kind: Kind) -> dict[str, Any]:
    facts = {"reference": "1A2B3C4D", "benefit": "old_age_pension", "name": "Aysel Mammadova"}
    if kind.is_decision:
        facts["feedback_url"] = LINK
    return {**facts, **FACTS[kind]}


def test_facts_cover_every_kind() -> None:
    assert set(FACTS) == set(Kind)


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_renders_every_part_in_every_language(kind: Kind) -> None:
    renderer = Renderer()
    rendered = {language: renderer.render(kind, language, facts_of(kind)) for language in LANGUAGES}
    for language, message in rendered.items():
        for part in ("sms", "subject", "text", "html"):
            assert getattr(message, part).strip(), (kind, language, part)
        assert f'<html lang="{language}">' in message.html
        assert "1A2B3C4D" in message.text
    # Untranslated: no language may say a part as another language says it.
    for part in ("sms", "subject", "text"):
        texts = [getattr(rendered[language], part) for language in LANGUAGES]
        assert len(set(texts)) == len(LANGUAGES), (kind, part)
    assert re.search("[а-яё]", rendered["ru"].text, re.IGNORECASE), kind
    assert re.search("[əğıöüçş]", rendered["az"].text, re.IGNORECASE), kind
    assert not re.search("[а-яА-ЯёЁəƏğĞ]", rendered["en"].text), kind


@pytest.mark.parametrize("kind", list(Kind))
def test_a_missing_variable_is_an_error_not_a_blank(kind: Kind) -> None:
    facts = facts_of(kind)
    del facts["benefit"]
    with pytest.raises((UndefinedError, KeyError)):
        Renderer().render(kind, "en", facts)


def test_a_missing_template_is_an_error(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    (templates / "ru" / "suspended.j2").unlink()
    renderer = Renderer(templates)
    renderer.render(Kind.SUSPENDED, "en", facts_of(Kind.SUSPENDED))
    with pytest.raises(LookupError):
        renderer.render(Kind.SUSPENDED, "ru", facts_of(Kind.SUSPENDED))


def test_a_template_without_a_block_is_an_error(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    path = templates / "en" / "ended.j2"
    path.write_text(re.sub(r"\{% block sms %\}.*?\{% endblock %\}", "", path.read_text()))
    with pytest.raises(LookupError, match="sms"):
        Renderer(templates).render(Kind.ENDED, "en", facts_of(Kind.ENDED))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_rejection_reason_and_benefit_is_said_in_plain_words(language: str) -> None:
    words = _words(TEMPLATES, language)
    assert set(REJECTION_REASONS) <= set(words["reasons"]), language
    assert {benefit.value for benefit in Benefit} <= set(words["benefits"]), language
    rendered = Renderer().render(
        Kind.REJECTED, language, {**facts_of(Kind.REJECTED), "reasons": sorted(REJECTION_REASONS)}
    )
    for code in REJECTION_REASONS:
        assert code not in rendered.text
        assert code not in rendered.sms
    assert rendered.text.count("\n- ") == len(REJECTION_REASONS)


def test_an_unknown_reason_code_is_said_generally_never_shown() -> None:
    rendered = Renderer().render(
        Kind.REJECTED, "en", {**facts_of(Kind.REJECTED), "reasons": ["some_new_rule"]}
    )
    assert "some_new_rule" not in rendered.text
    assert "does not meet the conditions" in rendered.text


def test_money_and_dates_are_formatted_for_the_language() -> None:
    renderer = Renderer()
    facts = facts_of(Kind.PAYMENT_SETTLED)
    assert "1,234.50\xa0AZN" in renderer.render(Kind.PAYMENT_SETTLED, "en", facts).text
    assert "5 December 2026" in renderer.render(Kind.PAYMENT_SETTLED, "en", facts).text
    assert "1\xa0234,50\xa0AZN" in renderer.render(Kind.PAYMENT_SETTLED, "ru", facts).text
    assert "5 декабря 2026" in renderer.render(Kind.PAYMENT_SETTLED, "ru", facts).text
    assert "1.234,50\xa0₼" in renderer.render(Kind.PAYMENT_SETTLED, "az", facts).text
    assert "5 dekabr 2026" in renderer.render(Kind.PAYMENT_SETTLED, "az", facts).text


def test_a_lump_sum_is_told_as_paid_once() -> None:
    facts = {**facts_of(Kind.APPROVED), "payment": "lump_sum", "benefit": "childbirth_allowance"}
    message = Renderer().render(Kind.APPROVED, "en", facts)
    assert "280.00\xa0AZN once" in message.text
    assert "a month" not in message.text


def test_html_escapes_what_came_from_outside() -> None:
    facts = {**facts_of(Kind.APPLICATION_RECEIVED), "name": "<script>x</script>"}
    message = Renderer().render(Kind.APPLICATION_RECEIVED, "en", facts)
    assert "<script>" not in message.html
    assert "&lt;script&gt;" in message.html
    assert "<script>x</script>" in message.text  # plain text is not HTML


@pytest.mark.parametrize("kind", list(Kind))
def test_sms_is_short(kind: Kind) -> None:
    renderer = Renderer()
    english = renderer.render(kind, "en", facts_of(kind)).sms
    if kind in (Kind.APPROVED, Kind.REJECTED):  # the rating link takes a segment of its own
        assert segments(english) <= 2, english
    else:
        assert segments(english) == 1, english
    for language in ("az", "ru"):  # ə and Cyrillic make it UCS-2: 70 characters a segment
        bound = 5 if kind.is_decision else 2
        assert segments(renderer.render(kind, language, facts_of(kind)).sms) <= bound


def test_an_unknown_language_falls_back_to_azerbaijani() -> None:
    message = Renderer().render(Kind.SUSPENDED, "de", facts_of(Kind.SUSPENDED))
    assert message.language == "az"
