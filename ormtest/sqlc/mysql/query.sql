-- name: CreateAuthor :execresult
INSERT INTO authors (
  id, name, bio
) VALUES (
  ?, ?, ?
);

-- name: GetAuthor :one
SELECT id, name, bio FROM authors
WHERE id = ? LIMIT 1;

-- name: ListAuthorsByIDs :many
SELECT id, name, bio FROM authors
WHERE id IN (sqlc.slice('ids'))
ORDER BY id;

-- name: UpdateAuthorBio :execrows
UPDATE authors
SET bio = ?
WHERE id = ?;

-- name: DeleteAuthor :exec
DELETE FROM authors
WHERE id = ?;
