-- name: GetAuthor :one
SELECT id, name, bio FROM authors
WHERE id = $1 LIMIT 1;

-- name: ListAuthors :many
SELECT id, name, bio FROM authors
ORDER BY name;

-- CountAuthorsNamedOrBio uses $1 twice: aiodb repeats the argument for ? backends.
-- name: CountAuthorsNamedOrBio :one
SELECT count(*) FROM authors
WHERE name = $1 OR bio = $1;

-- name: CreateAuthor :one
INSERT INTO authors (
  id, name, bio
) VALUES (
  $1, $2, $3
)
RETURNING id, name, bio;

-- UpdateAuthorBio takes its arguments out of order ($2 before $1).
-- name: UpdateAuthorBio :execrows
UPDATE authors
  SET bio = $2
WHERE id = $1;

-- name: DeleteAuthor :exec
DELETE FROM authors
WHERE id = $1;
