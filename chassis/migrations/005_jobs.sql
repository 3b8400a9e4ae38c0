-- Resumable jobs (chassis.jobs): a named piece of long work, done chunk by chunk by one
-- leader at a time; the checkpoint moves in the transaction of each chunk's writes.
CREATE TABLE {schema}.jobs (
    name text PRIMARY KEY,
    kind text NOT NULL,
    params jsonb NOT NULL DEFAULT '{}'::jsonb,
    status text NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    checkpoint jsonb,
    done bigint NOT NULL DEFAULT 0,
    total bigint,
    result jsonb,
    error text,
    attempts integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX jobs_open_idx ON {schema}.jobs (created_at) WHERE status IN ('pending', 'running');
