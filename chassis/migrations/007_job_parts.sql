-- A job may split its work into parts (jobs of their own, led independently, so they go
-- side by side: in one runner, or spread over replicas); the parent waits for them.
ALTER TABLE {schema}.jobs ADD COLUMN parent text REFERENCES {schema}.jobs (name);
CREATE INDEX jobs_parent_idx ON {schema}.jobs (parent) WHERE parent IS NOT NULL;
