-- Outside a transaction. SET TRANSACTION fails inside one (MariaDB error
-- 1568, and aiodb refuses it in a transaction it manages, ErrTxControl):
-- this migration succeeds only because goose runs it without one.
-- +goose NO TRANSACTION
-- +goose Up
SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
CREATE INDEX goose_widgets_name ON goose_widgets (name);

-- +goose Down
SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
DROP INDEX goose_widgets_name ON goose_widgets;
