"""The relational schema, as numbered migrations applied once each, in order, under an advisory lock.

The database enforces the rules so that a bug in the code cannot break them (the seed's "Consistency"): unique email
(case-insensitively), not-null fields, adults only, balances never negative, foreign keys.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "accounts",
        """
        CREATE TABLE users (
            user_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            email         text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
            password_hash text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
            role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
            balance       numeric(14, 2) NOT NULL DEFAULT 0 CHECK (balance >= 0),
            created_at    timestamptz NOT NULL DEFAULT now()
        );
        CREATE UNIQUE INDEX users_email_key ON users (lower(email));

        -- The age rule is checked when a row is written (CHECK may call current_date for exactly that).
        CREATE TABLE user_profiles (
            user_id    bigint PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
            name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
            bio        text NOT NULL DEFAULT '' CHECK (length(bio) <= 1000),
            avatar_url text CHECK (avatar_url IS NULL OR length(avatar_url) <= 2048),
            birthdate  date NOT NULL CHECK (birthdate <= current_date - interval '18 years'),
            updated_at timestamptz NOT NULL DEFAULT now()
        );

        -- The seed's orders table; the commerce issue adds items, payments and states to it.
        CREATE TABLE orders (
            order_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            user_id    bigint NOT NULL REFERENCES users (user_id),
            total      numeric(14, 2) NOT NULL CHECK (total > 0),
            status     text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX orders_user_created ON orders (user_id, created_at);
        """,
    ),
    (
        2,
        "outbox",
        """
        -- Events written in the same transaction as the change that caused them. The relay deletes a row once
        -- every handler has taken it; a row that keeps failing moves to outbox_dead_letter.
        CREATE TABLE outbox (
            position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            event_id        uuid NOT NULL UNIQUE,
            aggregate_type  text NOT NULL,
            aggregate_id    text NOT NULL,
            event_type      text NOT NULL,
            payload         jsonb NOT NULL,
            created_at      timestamptz NOT NULL DEFAULT now(),
            attempts        integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            last_error      text
        );
        -- The relay takes only the head of each aggregate's queue (order per aggregate), found through this index.
        CREATE INDEX outbox_aggregate_position ON outbox (aggregate_type, aggregate_id, position);
        CREATE INDEX outbox_due ON outbox (next_attempt_at, position);

        CREATE TABLE outbox_dead_letter (
            event_id       uuid PRIMARY KEY,
            source         text NOT NULL,
            aggregate_type text NOT NULL,
            aggregate_id   text NOT NULL,
            event_type     text NOT NULL,
            payload        jsonb NOT NULL,
            created_at     timestamptz NOT NULL,
            attempts       integer NOT NULL,
            error          text NOT NULL,
            failed_at      timestamptz NOT NULL DEFAULT now()
        );

        -- Which handler has taken which event: a handler whose effect is not naturally idempotent checks it, and a
        -- redelivered event skips the handlers that already took it.
        CREATE TABLE processed_events (
            handler      text NOT NULL,
            event_id     uuid NOT NULL,
            processed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (handler, event_id)
        );
        """,
    ),
    (
        3,
        "session_backups",
        """
        -- A copy of each live session, written at login, read only while Redis (where sessions live) is down, so
        -- that signed-in users keep working (degraded) through a Redis outage. Deleted at logout.
        CREATE TABLE session_backups (
            token_hash   text PRIMARY KEY,
            user_id      bigint NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
            role         text NOT NULL,
            created_at   double precision NOT NULL,
            absolute_end timestamptz NOT NULL
        );
        CREATE INDEX session_backups_end ON session_backups (absolute_end);
        """,
    ),
]

MIGRATION_LOCK = 7_150_001  # pg_advisory_xact_lock key: one migrator at a time across processes
