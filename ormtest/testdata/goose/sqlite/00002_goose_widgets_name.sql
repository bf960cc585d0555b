-- VACUUM cannot run inside a transaction: this migration succeeds only
-- because goose runs it without one.
-- +goose NO TRANSACTION
-- +goose Up
CREATE INDEX goose_widgets_name ON goose_widgets (name);
VACUUM;

-- +goose Down
DROP INDEX goose_widgets_name;
VACUUM;
