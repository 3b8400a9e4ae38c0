-- What notifications keeps of each case: how to reach the citizen (from the application),
-- whether the case was withdrawn, and which people the civil registry reported dead.
CREATE TABLE {schema}.contacts (
    case_id text PRIMARY KEY,
    national_id text NOT NULL,
    full_name text NOT NULL,
    benefit text NOT NULL,
    center_id text NOT NULL,
    language text NOT NULL,
    phone text,
    email text,
    withdrawn boolean NOT NULL DEFAULT false,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_by_person ON {schema}.contacts (national_id);

-- Withdrawals eligibility rejected (the decision came first); its answer may arrive
-- before the withdrawal itself, which is then not confirmed.
CREATE TABLE {schema}.rejected_withdrawals (
    withdrawal_id text PRIMARY KEY,
    case_id text NOT NULL
);

CREATE TABLE {schema}.deaths (
    national_id text PRIMARY KEY,
    reported_at timestamptz NOT NULL DEFAULT now()
);

-- One thing to tell the citizen, about one event: open (told once the contact details are
-- known), held (the case was withdrawn) or dropped (never told, with why).
CREATE TABLE {schema}.notices (
    event_id text PRIMARY KEY,
    case_id text NOT NULL,
    kind text NOT NULL,
    facts jsonb NOT NULL,
    state text NOT NULL CHECK (state IN ('open', 'held', 'dropped')),
    state_reason text,
    planned boolean NOT NULL DEFAULT false,
    occurred_at timestamptz NOT NULL,
    traceparent text  -- the trace of the case's event: its messages are sent within it
);
CREATE INDEX notices_by_case ON {schema}.notices (case_id);

-- One message per notice and channel (the key makes "at most one" a constraint), rendered
-- when it is planned. pending -> sending (claimed by a dispatcher until claimed_until) ->
-- sent | failed; pending -> cancelled (the person was reported dead). A message still
-- `sending` after its claim ran out is sent again with the same idempotency key. Once a
-- message is finished its recipient is kept masked only (the case's contacts hold the
-- number and address while the case may still need them).
CREATE TABLE {schema}.deliveries (
    notification_id text PRIMARY KEY,
    event_id text NOT NULL,
    case_id text NOT NULL,
    national_id text NOT NULL,
    kind text NOT NULL,
    channel text NOT NULL CHECK (channel IN ('sms', 'email')),
    language text NOT NULL,
    recipient text NOT NULL,
    recipient_masked text NOT NULL,
    subject text,
    body text NOT NULL,
    html text,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    attempts integer NOT NULL DEFAULT 0,
    not_before timestamptz NOT NULL,
    claimed_until timestamptz,
    last_error text,
    provider_message_id text,
    traceparent text,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    UNIQUE (event_id, channel)
);
CREATE INDEX deliveries_due ON {schema}.deliveries (not_before)
    WHERE status IN ('pending', 'sending');
CREATE INDEX deliveries_by_case ON {schema}.deliveries (case_id, created_at);
CREATE INDEX deliveries_by_person ON {schema}.deliveries (national_id)
    WHERE status IN ('pending', 'sending');

-- After a decision the citizen is invited to rate the service, once.
CREATE TABLE {schema}.feedback_invitations (
    invitation_id uuid PRIMARY KEY,
    event_id text NOT NULL UNIQUE,
    case_id text NOT NULL,
    center_id text NOT NULL,
    invited_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE TABLE {schema}.feedback (
    invitation_id uuid PRIMARY KEY REFERENCES {schema}.feedback_invitations,
    case_id text NOT NULL,
    center_id text NOT NULL,
    rating smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment text,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feedback_by_center ON {schema}.feedback (center_id, received_at);
