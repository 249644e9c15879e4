-- The inventory projection: SQLite tables that the worker keeps up to date from the
-- log. Every batch is one transaction of INSERTs into `events` (see to_sql in
-- inventory.jq); the triggers below apply each inserted event to `items`, record
-- overdrafts and move the partition's applied offset, all inside that transaction.
-- An INSERT whose offset is not past its partition's applied offset inserts nothing,
-- so a batch delivered again after a crash takes effect once.
PRAGMA journal_mode = WAL;

CREATE TABLE IF NOT EXISTS items (
  item_id     TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  stock       INTEGER NOT NULL CHECK (stock >= 0),  -- never negative, enforced here too
  events      INTEGER NOT NULL DEFAULT 1,           -- events applied to it
  updated_at  TEXT
);

-- one row per event applied: (partition, offset) can be applied only once
CREATE TABLE IF NOT EXISTS events (
  partition_id     INTEGER NOT NULL,
  log_offset       INTEGER NOT NULL,
  event_id         TEXT,
  type             TEXT,
  item_id          TEXT,
  name             TEXT,
  qty              INTEGER,
  user_id          TEXT,
  request_id       TEXT,
  reason           TEXT,
  rejects_event_id TEXT,
  ts               TEXT,
  PRIMARY KEY (partition_id, log_offset)
);

-- the consumed offsets, committed with the stock changes they caused
CREATE TABLE IF NOT EXISTS applied_offsets (
  partition_id INTEGER PRIMARY KEY,
  last_offset  INTEGER NOT NULL
);

-- checkouts that would have taken stock below zero: not applied; the worker appends a
-- CHECKOUT_REJECTED with event id 'reject-' || event_id for each, then sets
-- compensated (an outbox: a crash in between only repeats an append pspf drops)
CREATE TABLE IF NOT EXISTS overdrafts (
  event_id     TEXT PRIMARY KEY,
  item_id      TEXT,
  qty          INTEGER,
  stock_then   INTEGER,
  reason       TEXT,
  user_id      TEXT,
  request_id   TEXT,
  partition_id INTEGER,
  log_offset   INTEGER,
  compensated  INTEGER NOT NULL DEFAULT 0
);

-- batches and events handed to the worker, to show re-deliveries being skipped
CREATE TABLE IF NOT EXISTS deliveries (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  batches   INTEGER NOT NULL,
  delivered INTEGER NOT NULL
);
INSERT OR IGNORE INTO deliveries VALUES (1, 0, 0);

CREATE TRIGGER IF NOT EXISTS apply_offset AFTER INSERT ON events BEGIN
  INSERT INTO applied_offsets VALUES (NEW.partition_id, NEW.log_offset)
    ON CONFLICT (partition_id) DO UPDATE SET last_offset = max(last_offset, excluded.last_offset);
END;

CREATE TRIGGER IF NOT EXISTS apply_created AFTER INSERT ON events
WHEN NEW.type = 'ITEM_CREATED' AND NEW.item_id IS NOT NULL BEGIN
  INSERT INTO items (item_id, name, stock, events, updated_at)
    VALUES (NEW.item_id, coalesce(NEW.name, NEW.item_id), coalesce(NEW.qty, 0), 1, NEW.ts)
    ON CONFLICT (item_id) DO NOTHING;
END;

CREATE TRIGGER IF NOT EXISTS apply_checked_in AFTER INSERT ON events
WHEN NEW.type = 'ITEM_CHECKED_IN' AND NEW.qty > 0 BEGIN
  UPDATE items SET stock = stock + NEW.qty, events = events + 1, updated_at = NEW.ts
    WHERE item_id = NEW.item_id;
END;

CREATE TRIGGER IF NOT EXISTS apply_checked_out AFTER INSERT ON events
WHEN NEW.type = 'ITEM_CHECKED_OUT' AND NEW.qty > 0 BEGIN
  -- first record an overdraft (both statements see the stock before this event)
  INSERT OR IGNORE INTO overdrafts
    (event_id, item_id, qty, stock_then, reason, user_id, request_id, partition_id, log_offset)
    SELECT NEW.event_id, NEW.item_id, NEW.qty, s.stock,
           CASE WHEN s.stock IS NULL THEN 'unknown item'
                ELSE 'insufficient stock: have ' || s.stock || ', want ' || NEW.qty END,
           NEW.user_id, NEW.request_id, NEW.partition_id, NEW.log_offset
    FROM (SELECT (SELECT stock FROM items WHERE item_id = NEW.item_id) AS stock) AS s
    WHERE s.stock IS NULL OR s.stock < NEW.qty;
  UPDATE items SET stock = stock - NEW.qty, events = events + 1, updated_at = NEW.ts
    WHERE item_id = NEW.item_id AND stock >= NEW.qty;
END;

CREATE TRIGGER IF NOT EXISTS apply_rejected AFTER INSERT ON events
WHEN NEW.type = 'CHECKOUT_REJECTED' BEGIN
  UPDATE overdrafts SET compensated = 1 WHERE event_id = NEW.rejects_event_id;
  UPDATE items SET events = events + 1, updated_at = NEW.ts WHERE item_id = NEW.item_id;
END;
