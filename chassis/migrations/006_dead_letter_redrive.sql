-- Dead letters keep the whole record (key and headers too), so a redrive re-runs exactly
-- what arrived, and what became of them: redriven or discarded, how often a redrive failed.
ALTER TABLE {schema}.dead_letters
    ADD COLUMN message_key bytea,
    ADD COLUMN header_names text[] NOT NULL DEFAULT '{}',
    ADD COLUMN header_values bytea[] NOT NULL DEFAULT '{}',
    ADD COLUMN redrive_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN resolution text CHECK (resolution IN ('redriven', 'discarded'));
CREATE INDEX dead_letters_open_idx ON {schema}.dead_letters (subscription, id)
    WHERE resolved_at IS NULL;
