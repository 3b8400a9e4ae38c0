-- Append-only event streams. (stream_id, version) is the optimistic-concurrency guard;
-- position is the global order. Appends take an EXCLUSIVE lock on this table for the rest of
-- their transaction, so positions are assigned in commit order and a reader that tracks
-- the last position it saw never skips an event committed later with a lower position.
CREATE TABLE {schema}.events (
    position bigint GENERATED ALWAYS AS IDENTITY,
    stream_id text NOT NULL,
    version integer NOT NULL CHECK (version > 0),
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    schema_version smallint NOT NULL CHECK (schema_version > 0),
    data jsonb NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, version)
);
CREATE UNIQUE INDEX events_position_idx ON {schema}.events (position);
CREATE UNIQUE INDEX events_event_id_idx ON {schema}.events (event_id);

CREATE FUNCTION {schema}.events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{schema}_events', '');
    RETURN NULL;
END $$;

CREATE TRIGGER events_notify AFTER INSERT ON {schema}.events
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.events_notify();
