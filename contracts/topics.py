"""The public Kafka topics of DOMAIN.md. A consumer of `<topic>` dead-letters to `<topic>.dlq`."""

INTAKE_COMMANDS = "dost.intake.commands.v1"
INTAKE_EVENTS = "dost.intake.events.v1"
ELIGIBILITY_EVENTS = "dost.eligibility.events.v1"
PAYMENTS_EVENTS = "dost.payments.events.v1"
NOTIFICATIONS_EVENTS = "dost.notifications.events.v1"
REGISTRY_EVENTS = "dost.registry.events.v1"
BANK_SETTLEMENTS = "dost.bank.settlements.v1"

EVENT_TOPICS = (INTAKE_EVENTS, ELIGIBILITY_EVENTS, PAYMENTS_EVENTS, NOTIFICATIONS_EVENTS)
"""The platform's published histories: kept for good, so read models can be rebuilt."""

ALL_TOPICS = (
    INTAKE_COMMANDS,
    INTAKE_EVENTS,
    ELIGIBILITY_EVENTS,
    PAYMENTS_EVENTS,
    NOTIFICATIONS_EVENTS,
    REGISTRY_EVENTS,
    BANK_SETTLEMENTS,
)


def dead_letter_topic(topic: str) -> str:
    """Where a consumer of `topic` puts what it could not process."""
    return f"{topic}.dlq"


def all_topics_with_dead_letters() -> list[str]:
    """Every public topic followed by its dead-letter topic."""
    return [name for topic in ALL_TOPICS for name in (topic, dead_letter_topic(topic))]
