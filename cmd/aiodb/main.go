// Command aiodb shows what the aiodb driver sees and decides: the state of
// every node of a DSN, how a statement is rewritten and routed, and the
// records a statement returns.
//
//	aiodb check [-json] [-timeout D] [DSN]
//	aiodb explain [-json] [-dialect D | DSN] SQL [ARG…]
//	aiodb query [-json] [-replica] [-timeout D] [DSN] SQL [ARG…]
//
// check connects to every node and prints its configured role, the role the
// server reports (PostgreSQL pg_is_in_recovery() or transaction_read_only, MySQL/MariaDB
// @@global.read_only), whether it is reachable or the error, its version,
// the round-trip time and, for replicas, the replication lag. It exits with
// status 1 when the topology is wrong: a node down, a primary that is
// read-only, a replica that accepts writes, two writable nodes.
//
// explain prints the statement as the backend driver receives it, the order
// of its arguments after rewriting, and how routing classifies it (read,
// write or unknown, and why). It never connects: with -dialect it needs no
// DSN at all; with a DSN it applies the DSN's options (aiodb_sql_mode, …).
//
// query runs one statement through aiodb's FetchAll and prints the records
// as a table. With -replica it runs in a Replica block: on a replica,
// read-only, so a write is refused with aiodb.ErrReadOnly. Arguments are
// passed as text; the server converts them to the parameter types.
//
// The DSN is the first argument when that argument is a URL (it contains
// "://"), and otherwise comes from the environment variable AIODB_DSN, which
// keeps passwords out of shell history and ps. Passwords are never printed.
// -json prints one JSON document for scripts instead of a table.
//
// Exit status: 0 on success, 1 when the statement fails, the topology is
// wrong or a node cannot be reached, 2 on a usage error (unknown command or
// flag, missing or malformed DSN).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// envDSN names the environment variable a DSN may come from.
const envDSN = "AIODB_DSN"

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// errUsage marks an error in the command line rather than in what it asked for.
var errUsage = errors.New("usage")

func usagef(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
}

const usage = `usage:
  aiodb check [-json] [-timeout D] [DSN]
  aiodb explain [-json] [-dialect D | DSN] SQL [ARG...]
  aiodb query [-json] [-replica] [-timeout D] [DSN] SQL [ARG...]

The DSN may be left out and given in the environment variable AIODB_DSN.
Run "aiodb COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	commands := map[string]func([]string, io.Writer, io.Writer) error{
		"check":   check,
		"explain": explain,
		"query":   query,
	}
	name := args[0]
	cmd, ok := commands[name]
	if !ok {
		if name == "-h" || name == "-help" || name == "--help" || name == "help" {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		fmt.Fprintf(stderr, "aiodb: unknown command %q\n%s", name, usage)
		return exitUsage
	}
	err := cmd(args[1:], stdout, stderr)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "aiodb %s: %v\n", name, strings.TrimPrefix(err.Error(), "usage: "))
		return exitUsage
	case errors.Is(err, errReported):
		return exitFail
	}
	fmt.Fprintf(stderr, "aiodb %s: %v\n", name, err)
	return exitFail
}

// errReported is returned by a command that has already printed why it fails.
var errReported = errors.New("failure already reported")

// newFlags returns a command's flag set; errors and -h go to stderr.
func newFlags(name, args string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: aiodb %s %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses a command's flags; a bad flag is a usage error.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	return nil
}

// splitDSN takes the DSN from args[0] when it is a URL, else from AIODB_DSN,
// and returns the remaining arguments.
func splitDSN(args []string) (dsn string, rest []string, err error) {
	if len(args) > 0 {
		if first := strings.Fields(args[0]); len(first) > 0 && strings.Contains(first[0], "://") {
			return args[0], args[1:], nil
		}
	}
	if env := os.Getenv(envDSN); strings.TrimSpace(env) != "" {
		return env, args, nil
	}
	return "", nil, usagef("no DSN: give it as the first argument or in the environment variable %s", envDSN)
}

// toAny converts command-line arguments to statement arguments.
func toAny(args []string) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a
	}
	return out
}
