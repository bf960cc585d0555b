// source: query.sql

package pgq

import (
	"context"
	"database/sql"
)

// Schema is the DDL of query.sql's table (schema.sql); it is valid on
// PostgreSQL, MySQL/MariaDB and SQLite alike.
const Schema = `CREATE TABLE authors (
  id   BIGINT PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  bio  TEXT
)`

const countAuthorsNamedOrBio = `-- name: CountAuthorsNamedOrBio :one
SELECT count(*) FROM authors
WHERE name = $1 OR bio = $1
`

func (q *Queries) CountAuthorsNamedOrBio(ctx context.Context, name string) (int64, error) {
	row := q.db.QueryRowContext(ctx, countAuthorsNamedOrBio, name)
	var count int64
	err := row.Scan(&count)
	return count, err
}

const createAuthor = `-- name: CreateAuthor :one
INSERT INTO authors (
  id, name, bio
) VALUES (
  $1, $2, $3
)
RETURNING id, name, bio
`

type CreateAuthorParams struct {
	ID   int64
	Name string
	Bio  sql.NullString
}

func (q *Queries) CreateAuthor(ctx context.Context, arg CreateAuthorParams) (Author, error) {
	row := q.db.QueryRowContext(ctx, createAuthor, arg.ID, arg.Name, arg.Bio)
	var i Author
	err := row.Scan(&i.ID, &i.Name, &i.Bio)
	return i, err
}

const deleteAuthor = `-- name: DeleteAuthor :exec
DELETE FROM authors
WHERE id = $1
`

func (q *Queries) DeleteAuthor(ctx context.Context, id int64) error {
	_, err := q.db.ExecContext(ctx, deleteAuthor, id)
	return err
}

const getAuthor = `-- name: GetAuthor :one
SELECT id, name, bio FROM authors
WHERE id = $1 LIMIT 1
`

func (q *Queries) GetAuthor(ctx context.Context, id int64) (Author, error) {
	row := q.db.QueryRowContext(ctx, getAuthor, id)
	var i Author
	err := row.Scan(&i.ID, &i.Name, &i.Bio)
	return i, err
}

const listAuthors = `-- name: ListAuthors :many
SELECT id, name, bio FROM authors
ORDER BY name
`

func (q *Queries) ListAuthors(ctx context.Context) ([]Author, error) {
	rows, err := q.db.QueryContext(ctx, listAuthors)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var items []Author
	for rows.Next() {
		var i Author
		if err := rows.Scan(&i.ID, &i.Name, &i.Bio); err != nil {
			return nil, err
		}
		items = append(items, i)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return items, nil
}

const updateAuthorBio = `-- name: UpdateAuthorBio :execrows
UPDATE authors
  SET bio = $2
WHERE id = $1
`

type UpdateAuthorBioParams struct {
	ID  int64
	Bio sql.NullString
}

func (q *Queries) UpdateAuthorBio(ctx context.Context, arg UpdateAuthorBioParams) (int64, error) {
	result, err := q.db.ExecContext(ctx, updateAuthorBio, arg.ID, arg.Bio)
	if err != nil {
		return 0, err
	}
	return result.RowsAffected()
}
