-- Idempotency of submissions: an HTTP Idempotency-Key (scope 'http') or a command's
-- CloudEvent id (scope = its source) maps to one case, for one application body.
CREATE TABLE {schema}.submission_keys (
    scope text NOT NULL,
    idempotency_key text NOT NULL,
    body_sha256 text NOT NULL,
    case_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, idempotency_key)
);

-- The case tracker: every event of every context about a case, in order, and a summary
-- row per case for searching. Fed from the event topics; rebuildable from them.
CREATE TABLE {schema}.tracker_timeline (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id text NOT NULL,
    event_id text NOT NULL UNIQUE,
    event_type text NOT NULL,
    source text NOT NULL,
    occurred_at timestamptz NOT NULL,
    data jsonb NOT NULL
);
CREATE INDEX tracker_timeline_case_idx ON {schema}.tracker_timeline (case_id, occurred_at, position);

CREATE TABLE {schema}.tracker_cases (
    case_id text PRIMARY KEY,
    national_id text,
    benefit text,
    center_id text,
    status text NOT NULL,
    submitted_at timestamptz,
    updated_at timestamptz NOT NULL
);
CREATE INDEX tracker_cases_national_id_idx ON {schema}.tracker_cases (national_id, submitted_at DESC);
CREATE INDEX tracker_cases_status_idx ON {schema}.tracker_cases (status, submitted_at DESC);
