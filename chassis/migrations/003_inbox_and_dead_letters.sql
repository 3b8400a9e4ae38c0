-- Inbox: a consumer claims (subscription, message id) in the transaction of its own writes,
-- so a redelivered message has no second effect.
CREATE TABLE {schema}.inbox (
    subscription text NOT NULL,
    message_id text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription, message_id)
);

-- What a consumer could not process. While a dead letter of a subject (case) is open, later
-- messages of the same subject for the same subscription are parked behind it.
CREATE TABLE {schema}.dead_letters (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription text NOT NULL,
    message_id text NOT NULL,
    subject text,
    source_topic text NOT NULL,
    source_partition integer NOT NULL,
    source_offset bigint NOT NULL,
    reason text NOT NULL,
    error text NOT NULL,
    payload bytea NOT NULL,
    dead_lettered_at timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz
);
CREATE INDEX dead_letters_open_subject_idx ON {schema}.dead_letters (subscription, subject)
    WHERE resolved_at IS NULL AND subject IS NOT NULL;

-- Checkpoints of projections fed from the event store.
CREATE TABLE {schema}.projection_checkpoints (
    projection text PRIMARY KEY,
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
