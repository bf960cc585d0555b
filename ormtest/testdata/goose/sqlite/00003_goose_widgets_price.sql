-- Runs in a transaction (goose's default).
-- +goose Up
ALTER TABLE goose_widgets ADD COLUMN price INTEGER;
UPDATE goose_widgets SET price = 42 WHERE id = 1;

-- +goose Down
ALTER TABLE goose_widgets DROP COLUMN price;
