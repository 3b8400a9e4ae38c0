-- The deaths the civil registry reported, as payments learnt of them: an approval that
-- reaches payments after the death (they come on different topics) grants an entitlement
-- that is at once terminated, never one that pays a dead person.
CREATE TABLE {schema}.deaths (
    national_id text PRIMARY KEY,
    date_of_death date NOT NULL,
    reported_at timestamptz NOT NULL DEFAULT now()
);
