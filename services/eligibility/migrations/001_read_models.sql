-- People the civil registry reported dead.
CREATE TABLE {schema}.deaths (
    national_id text PRIMARY KEY,
    date_of_death date NOT NULL,
    reported_at timestamptz NOT NULL DEFAULT now()
);

-- Approved awards, for the already_receiving rule. A childbirth allowance is one per child.
CREATE TABLE {schema}.awards (
    case_id text PRIMARY KEY,
    national_id text NOT NULL,
    benefit text NOT NULL,
    child_birth_date date,
    start_date date NOT NULL,
    end_date date,
    ended_on date
);
CREATE INDEX awards_person_idx ON {schema}.awards (national_id, benefit);

-- Cases waiting for a caseworker, oldest first.
CREATE TABLE {schema}.review_queue (
    case_id text PRIMARY KEY,
    national_id text NOT NULL,
    benefit text NOT NULL,
    submitted_by text NOT NULL,
    referred_at timestamptz NOT NULL,
    review_reasons jsonb NOT NULL,
    facts jsonb NOT NULL,
    proposal jsonb,
    rules jsonb NOT NULL
);
CREATE INDEX review_queue_age_idx ON {schema}.review_queue (referred_at);
CREATE INDEX review_queue_person_idx ON {schema}.review_queue (national_id);
