-- Nobody listens for appended events: readers follow positions.
DROP TRIGGER IF EXISTS events_notify ON {schema}.events;
DROP FUNCTION IF EXISTS {schema}.events_notify();

-- A row the broker refuses for good (too large, unknown topic, not authorised) is parked:
-- retried only from retry_at on (with growing back-off, or at once by `dost outbox retry`),
-- and the later rows of its topic and key wait behind it so the key stays in order.
ALTER TABLE {schema}.outbox
    ADD COLUMN attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN last_error text,
    ADD COLUMN parked_at timestamptz,
    ADD COLUMN retry_at timestamptz;
CREATE INDEX outbox_parked_idx ON {schema}.outbox (topic, message_key, position)
    WHERE retry_at IS NOT NULL;

-- Leases elect one leader for a piece of background work (the outbox relay, a job). The
-- holder renews before its lease expires; a holder that stops renewing (frozen, cut off)
-- loses it to the next one, whose token is higher. A holder whose database session is gone
-- (its process was killed) loses it at once.
CREATE TABLE {schema}.leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    holder_pid integer NOT NULL,
    token bigint NOT NULL,
    acquired_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

-- What a subscription answered to a message (commands from other systems): a duplicate of
-- the message gets the same answer again, with the same event ids.
CREATE TABLE {schema}.inbox_replies (
    subscription text NOT NULL,
    message_id text NOT NULL,
    seq integer NOT NULL,
    topic text NOT NULL,
    message_key bytea,
    payload bytea NOT NULL,
    headers jsonb NOT NULL,
    PRIMARY KEY (subscription, message_id, seq)
);
