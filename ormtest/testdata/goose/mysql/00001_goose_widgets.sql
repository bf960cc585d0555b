-- Runs in a transaction (goose's default).
-- +goose Up
CREATE TABLE goose_widgets (
  id   BIGINT PRIMARY KEY,
  name VARCHAR(100) NOT NULL
);
INSERT INTO goose_widgets (id, name) VALUES (1, 'first');

-- +goose Down
DROP TABLE goose_widgets;
