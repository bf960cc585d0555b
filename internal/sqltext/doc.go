// Package sqltext is aiodb's SQL text layer: one lexer that follows the
// target server's rules (lexer.go), the placeholder rewriter built on it
// (rewrite.go), the statement classifier used for routing and the
// transaction guards (classify.go, keywords of its own) and the bounded
// cache both are kept in (cache.go). It depends on nothing but the dialect.
package sqltext
