-- CREATE INDEX CONCURRENTLY cannot run inside a transaction block: this
-- migration succeeds only because goose runs it without one.
-- +goose NO TRANSACTION
-- +goose Up
CREATE INDEX CONCURRENTLY goose_widgets_name ON goose_widgets (name);

-- +goose Down
DROP INDEX CONCURRENTLY goose_widgets_name;
