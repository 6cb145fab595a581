-- One row describing this vault instance.
CREATE TABLE instance (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    created_at BIGINT NOT NULL
);
INSERT INTO instance (id, created_at) VALUES (1, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
