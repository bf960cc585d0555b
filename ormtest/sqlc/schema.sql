-- The authors table of the sqlc tests. This DDL is valid on PostgreSQL,
-- MySQL/MariaDB and SQLite alike; the tests create it from this file.
CREATE TABLE authors (
  id   BIGINT PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  bio  TEXT
);
