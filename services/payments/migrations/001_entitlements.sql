-- One row per entitlement: what staff see, and the snapshot a payment run loads instead of
-- replaying a million streams (written in the transaction of every event of the stream, so
-- always at the stream's version).
CREATE TABLE {schema}.entitlements (
    entitlement_id text PRIMARY KEY,
    case_id text NOT NULL,
    national_id text NOT NULL,
    payee_name text NOT NULL,
    benefit text NOT NULL,
    payment text NOT NULL CHECK (payment IN ('monthly', 'lump_sum')),
    status text NOT NULL CHECK (status IN ('active', 'suspended', 'terminated', 'completed')),
    start_date date NOT NULL,
    end_date date,
    ends_on date,
    schedule jsonb NOT NULL,
    lump_sum numeric(12, 2),
    iban text NOT NULL,
    covered integer[] NOT NULL,  -- the months paid and not returned (Month.index)
    issued integer NOT NULL,
    returns integer NOT NULL,
    version integer NOT NULL,
    updated_at timestamptz NOT NULL
) WITH (fillfactor = 80);  -- room on each page for the monthly update to stay HOT
CREATE INDEX entitlements_person_idx ON {schema}.entitlements (national_id);
CREATE INDEX entitlements_case_idx ON {schema}.entitlements (case_id);
CREATE INDEX entitlements_active_idx ON {schema}.entitlements (entitlement_id)
    WHERE status = 'active';

-- Every payment instruction issued, and what the bank said of it.
CREATE TABLE {schema}.payment_instructions (
    instruction_id text PRIMARY KEY,
    entitlement_id text NOT NULL,
    case_id text NOT NULL,
    run_id text NOT NULL,
    period text NOT NULL,
    months jsonb NOT NULL,
    amount numeric(14, 2) NOT NULL,
    iban text NOT NULL,
    payee_name text NOT NULL,
    status text NOT NULL DEFAULT 'issued' CHECK (status IN ('issued', 'settled', 'returned')),
    issued_at timestamptz NOT NULL,
    settled_at timestamptz,
    returned_at timestamptz,
    return_reason text
);
CREATE INDEX payment_instructions_run_idx ON {schema}.payment_instructions (run_id, instruction_id);
CREATE INDEX payment_instructions_entitlement_idx
    ON {schema}.payment_instructions (entitlement_id, issued_at);
