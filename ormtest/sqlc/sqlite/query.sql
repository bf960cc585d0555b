-- name: GetAuthor :one
SELECT id, name, bio FROM authors
WHERE id = ? LIMIT 1;

-- name: ListAuthors :many
SELECT id, name, bio FROM authors
ORDER BY name;

-- name: ListAuthorsByIDs :many
SELECT id, name, bio FROM authors
WHERE id IN (sqlc.slice('ids'))
ORDER BY id;

-- CountAuthorsNamedOrBio uses ?1 twice.
-- name: CountAuthorsNamedOrBio :one
SELECT count(*) FROM authors
WHERE name = ?1 OR bio = ?1;

-- name: CreateAuthor :one
INSERT INTO authors (
  id, name, bio
) VALUES (
  ?, ?, ?
)
RETURNING id, name, bio;

-- UpdateAuthorBio takes its arguments out of order (?2 before ?1).
-- name: UpdateAuthorBio :execrows
UPDATE authors
SET bio = ?2
WHERE id = ?1;

-- name: DeleteAuthor :exec
DELETE FROM authors
WHERE id = ?;
