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
    (
        4,
        "commerce",
        """
        -- Money: users.balance (NUMERIC, CHECK >= 0) is the wallet; every movement is a pair of ledger entries
        -- that sum to zero (double entry). Accounts: a user's wallet, or the platform's 'deposits' (money that came
        -- in from outside) and 'sales' (money paid for orders).
        CREATE TABLE ledger_entries (
            entry_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            movement_id uuid NOT NULL,
            account     text NOT NULL CHECK (account IN ('wallet', 'deposits', 'sales')),
            user_id     bigint REFERENCES users (user_id),
            amount      numeric(14, 2) NOT NULL CHECK (amount <> 0),
            kind        text NOT NULL CHECK (kind IN ('deposit', 'transfer', 'payment', 'refund')),
            reference   text,
            created_at  timestamptz NOT NULL DEFAULT now(),
            CHECK ((account = 'wallet') = (user_id IS NOT NULL))
        );
        CREATE INDEX ledger_user_entry ON ledger_entries (user_id, entry_id DESC) WHERE user_id IS NOT NULL;
        CREATE INDEX ledger_movement ON ledger_entries (movement_id);

        CREATE TABLE products (
            product_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            price      numeric(12, 2) NOT NULL CHECK (price > 0),
            stock      integer NOT NULL CHECK (stock >= 0),
            created_at timestamptz NOT NULL DEFAULT now()
        );

        -- The seed's orders, grown: states pending -> paid -> shipped, or cancelled (refunded, restocked).
        ALTER TABLE orders ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
        ALTER TABLE orders ADD CONSTRAINT orders_status_check
            CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled'));
        CREATE TABLE order_items (
            order_id   bigint NOT NULL REFERENCES orders (order_id),
            product_id bigint NOT NULL REFERENCES products (product_id),
            quantity   integer NOT NULL CHECK (quantity > 0),
            unit_price numeric(12, 2) NOT NULL CHECK (unit_price > 0),
            PRIMARY KEY (order_id, product_id)
        );
        CREATE TABLE payments (
            payment_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            order_id   bigint NOT NULL REFERENCES orders (order_id),
            user_id    bigint NOT NULL REFERENCES users (user_id),
            amount     numeric(14, 2) NOT NULL CHECK (amount > 0),
            kind       text NOT NULL CHECK (kind IN ('charge', 'refund')),
            created_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (order_id, kind)
        );

        -- Seat booking: one row per seat; booked_by set once.
        CREATE TABLE ticketed_events (
            ticketed_event_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            starts_at         timestamptz NOT NULL
        );
        CREATE TABLE seats (
            ticketed_event_id bigint NOT NULL REFERENCES ticketed_events (ticketed_event_id),
            seat_no           integer NOT NULL CHECK (seat_no > 0),
            booked_by         bigint REFERENCES users (user_id),
            booked_at         timestamptz,
            PRIMARY KEY (ticketed_event_id, seat_no),
            CHECK ((booked_by IS NULL) = (booked_at IS NULL))
        );

        -- The durable copy of live carts (Redis hashes), kept by the relay from CartChanged events; a delta is
        -- applied once (cart_deltas_applied records it in the same transaction).
        CREATE TABLE cart_items (
            user_id    bigint NOT NULL REFERENCES users (user_id),
            product_id bigint NOT NULL REFERENCES products (product_id),
            quantity   integer NOT NULL CHECK (quantity > 0),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (user_id, product_id)
        );
        CREATE TABLE cart_deltas_applied (
            event_id   uuid PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        );

        -- Idempotency keys on Stripe's design: per user, the request's fingerprint, and the response once done.
        CREATE TABLE idempotency_keys (
            user_id         bigint NOT NULL REFERENCES users (user_id),
            key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
            request_hash    text NOT NULL,
            locked_until    timestamptz,
            response_status integer,
            response_body   jsonb,
            created_at      timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (user_id, key)
        );
        CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
        """,
    ),
    (
        5,
        "money_functions",
        """
        -- Each money operation is one function: one round trip, all of it in the caller's transaction. Errors are
        -- raised with SQLSTATE P0001 and a message naming the rule (insufficient_funds, out_of_stock, ...) that the
        -- adapter turns into a domain error.

        -- Rows are locked in id order, so that two opposite transfers cannot deadlock.
        CREATE FUNCTION money_transfer(p_from bigint, p_to bigint, p_amount numeric, p_movement uuid)
        RETURNS numeric LANGUAGE plpgsql AS $$
        DECLARE
            found_count integer;
            from_balance numeric;
        BEGIN
            PERFORM 1 FROM users WHERE user_id IN (p_from, p_to) ORDER BY user_id FOR UPDATE;
            GET DIAGNOSTICS found_count = ROW_COUNT;
            IF found_count < 2 THEN
                RAISE EXCEPTION 'no_such_user' USING ERRCODE = 'P0001';
            END IF;
            UPDATE users SET balance = balance - p_amount WHERE user_id = p_from AND balance >= p_amount
                RETURNING balance INTO from_balance;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'insufficient_funds' USING ERRCODE = 'P0001';
            END IF;
            UPDATE users SET balance = balance + p_amount WHERE user_id = p_to;
            INSERT INTO ledger_entries (movement_id, account, user_id, amount, kind, reference) VALUES
                (p_movement, 'wallet', p_from, -p_amount, 'transfer', 'to user ' || p_to),
                (p_movement, 'wallet', p_to, p_amount, 'transfer', 'from user ' || p_from);
            RETURN from_balance;
        END $$;

        CREATE FUNCTION money_deposit(p_user bigint, p_amount numeric, p_movement uuid)
        RETURNS numeric LANGUAGE plpgsql AS $$
        DECLARE
            new_balance numeric;
        BEGIN
            UPDATE users SET balance = balance + p_amount WHERE user_id = p_user RETURNING balance INTO new_balance;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'no_such_user' USING ERRCODE = 'P0001';
            END IF;
            INSERT INTO ledger_entries (movement_id, account, user_id, amount, kind, reference) VALUES
                (p_movement, 'wallet', p_user, p_amount, 'deposit', 'deposit'),
                (p_movement, 'deposits', NULL, -p_amount, 'deposit', 'to user ' || p_user);
            RETURN new_balance;
        END $$;

        -- Check and reduce stock (products locked in id order), create the order and its items, take the payment
        -- from the wallet: all or nothing. Returns the order id.
        CREATE FUNCTION shop_place_order(p_user bigint, p_products bigint[], p_quantities integer[], p_movement uuid)
        RETURNS bigint LANGUAGE plpgsql AS $$
        DECLARE
            wanted record;
            order_total numeric := 0;
            new_order bigint;
        BEGIN
            IF (SELECT count(*) FROM products WHERE product_id = ANY (p_products))
               < (SELECT count(DISTINCT x) FROM unnest(p_products) AS x) THEN
                RAISE EXCEPTION 'no_such_product' USING ERRCODE = 'P0001';
            END IF;
            FOR wanted IN
                SELECT p.product_id, p.price, p.stock, w.quantity
                FROM (SELECT product_id, sum(quantity)::integer AS quantity
                      FROM unnest(p_products, p_quantities) AS w(product_id, quantity) GROUP BY product_id) w
                JOIN products p ON p.product_id = w.product_id
                ORDER BY p.product_id
                FOR UPDATE OF p
            LOOP
                IF wanted.stock < wanted.quantity THEN
                    RAISE EXCEPTION 'out_of_stock' USING ERRCODE = 'P0001', DETAIL = wanted.product_id::text;
                END IF;
                order_total := order_total + wanted.price * wanted.quantity;
            END LOOP;
            INSERT INTO orders (user_id, total, status) VALUES (p_user, order_total, 'pending')
                RETURNING order_id INTO new_order;
            INSERT INTO order_items (order_id, product_id, quantity, unit_price)
                SELECT new_order, p.product_id, w.quantity, p.price
                FROM (SELECT product_id, sum(quantity)::integer AS quantity
                      FROM unnest(p_products, p_quantities) AS w(product_id, quantity) GROUP BY product_id) w
                JOIN products p USING (product_id);
            UPDATE products p SET stock = p.stock - i.quantity
                FROM order_items i WHERE i.order_id = new_order AND i.product_id = p.product_id;
            UPDATE users SET balance = balance - order_total WHERE user_id = p_user AND balance >= order_total;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'insufficient_funds' USING ERRCODE = 'P0001';
            END IF;
            INSERT INTO payments (order_id, user_id, amount, kind) VALUES (new_order, p_user, order_total, 'charge');
            INSERT INTO ledger_entries (movement_id, account, user_id, amount, kind, reference) VALUES
                (p_movement, 'wallet', p_user, -order_total, 'payment', 'order ' || new_order),
                (p_movement, 'sales', NULL, order_total, 'payment', 'order ' || new_order);
            UPDATE orders SET status = 'paid', updated_at = now() WHERE order_id = new_order;
            RETURN new_order;
        END $$;

        -- Cancel a paid order: refund the wallet, restock the items.
        CREATE FUNCTION shop_cancel_order(p_user bigint, p_order bigint, p_movement uuid)
        RETURNS void LANGUAGE plpgsql AS $$
        DECLARE
            current orders%ROWTYPE;
        BEGIN
            SELECT * INTO current FROM orders WHERE order_id = p_order AND user_id = p_user FOR UPDATE;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'no_such_order' USING ERRCODE = 'P0001';
            END IF;
            IF current.status <> 'paid' THEN
                RAISE EXCEPTION 'not_cancellable' USING ERRCODE = 'P0001', DETAIL = current.status;
            END IF;
            PERFORM 1 FROM products WHERE product_id IN (SELECT product_id FROM order_items WHERE order_id = p_order)
                ORDER BY product_id FOR UPDATE;
            UPDATE products p SET stock = p.stock + i.quantity
                FROM order_items i WHERE i.order_id = p_order AND i.product_id = p.product_id;
            UPDATE users SET balance = balance + current.total WHERE user_id = p_user;
            INSERT INTO payments (order_id, user_id, amount, kind) VALUES (p_order, p_user, current.total, 'refund');
            INSERT INTO ledger_entries (movement_id, account, user_id, amount, kind, reference) VALUES
                (p_movement, 'wallet', p_user, current.total, 'refund', 'order ' || p_order),
                (p_movement, 'sales', NULL, -current.total, 'refund', 'order ' || p_order);
            UPDATE orders SET status = 'cancelled', updated_at = now() WHERE order_id = p_order;
        END $$;
        """,
    ),
    (
        6,
        "idempotency_owner",
        """
        -- The request holding a key, so that a retry may take over a claim whose owner died (its lease ran out)
        -- and the late owner, should it still be running, cannot record its answer over the retry's.
        ALTER TABLE idempotency_keys ADD COLUMN owner uuid;
        """,
    ),
    (
        7,
        "follow_record",
        """
        -- Who follows whom, written in the transaction of each follow's outbox event: the source of truth that
        -- `reconcile` compares the graph's edges with. Empty after this migration on a platform that already had
        -- follows: reconcile then adopts the graph's edges once (services/reconcile.py).
        CREATE TABLE follow_record (
            follower bigint NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
            followee bigint NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
            since timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (follower, followee),
            CHECK (follower <> followee)
        );
        """,
    ),
    (
        8,
        "session_backups_by_user",
        """
        -- "Sign out everywhere" deletes a user's copies too.
        CREATE INDEX session_backups_user ON session_backups (user_id);
        """,
    ),
    (
        9,
        "outbox_trace",
        """
        -- The trace context of the request that wrote each event (empty unless tracing is on): the relay's delivery
        -- continues that trace.
        ALTER TABLE outbox ADD COLUMN trace jsonb;
        """,
    ),
    (
        10,
        "account_erasure",
        """
        -- An erased account keeps its users row, anonymised (an address nobody can receive mail at, a password
        -- nobody knows), because the ledger, orders and payments that the law requires to be kept refer to it; its
        -- profile and everything else personal is deleted (services/erasure.py).
        ALTER TABLE users ADD COLUMN deleted_at timestamptz;
        """,
    ),
]

MIGRATION_LOCK = 7_150_001  # pg_advisory_xact_lock key: one migrator at a time across processes
