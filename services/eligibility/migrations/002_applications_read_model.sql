-- The applications eligibility received, as the read models built on them need them (the
-- review queue and the awards are filled from here). Filled from the events already stored.
CREATE TABLE {schema}.applications (
    case_id text PRIMARY KEY,
    national_id text NOT NULL,
    benefit text NOT NULL,
    child_birth_date date,
    birth_date date NOT NULL,
    application_date date NOT NULL,
    submitted_by text NOT NULL,
    facts jsonb NOT NULL
);
INSERT INTO {schema}.applications
    SELECT a->>'case_id', a->>'national_id', a->>'benefit',
           (a->'facts'->>'child_birth_date')::date, (a->>'birth_date')::date,
           (a->>'application_date')::date, a->>'submitted_by', a->'facts'
    FROM (SELECT data->'application' AS a FROM {schema}.events
          WHERE event_type = 'eligibility.ApplicationReceived') AS received
    ON CONFLICT DO NOTHING;
