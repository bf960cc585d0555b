package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/aiodb/aiodb"
)

// explainJSON is the -json form of aiodb.Explanation.
type explainJSON struct {
	Dialect        string   `json:"dialect"`
	Statement      string   `json:"statement"`
	Rewritten      string   `json:"rewritten"`
	NumArgs        int      `json:"num_args"`
	ArgOrder       []int    `json:"arg_order"`       // 1-based caller argument per backend parameter
	Args           []string `json:"args,omitempty"`  // the given arguments in backend order
	Class          string   `json:"class"`           // read, write or unknown
	Kind           string   `json:"kind"`            // what the statement is
	Why            string   `json:"why,omitempty"`   // why it is not a read
	Manual         string   `json:"route_manual"`    // where it runs with aiodb_route=manual
	Auto           string   `json:"route_auto"`      // where it runs with aiodb_route=auto
	Replica        string   `json:"route_replica"`   // what happens in a replica context
	TxControl      bool     `json:"tx_control"`      // refused inside an aiodb transaction
	ImplicitCommit bool     `json:"implicit_commit"` // refused inside a nested transaction (MySQL)
	Error          string   `json:"error,omitempty"` // placeholder error
}

func explain(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("explain", "[-json] [-dialect D | DSN] SQL [ARG...]", stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	dialect := fs.String("dialect", "", "explain for this dialect (postgres, mysql, sqlite, odbc) instead of a DSN's")
	if err := parse(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	var e *aiodb.Explanation
	var err error
	switch {
	case len(rest) == 0:
		return usagef("no statement to explain")
	case *dialect != "":
		d, derr := aiodb.ParseDialect(*dialect)
		if derr != nil {
			return usagef("%v", derr)
		}
		e, err = aiodb.Explain(d, rest[0])
	default:
		var dsn string
		if dsn, rest, err = splitDSN(rest); err != nil {
			return err
		}
		if len(rest) == 0 {
			return usagef("no statement to explain")
		}
		cfg, perr := aiodb.ParseDSN(dsn)
		if perr != nil {
			return usagef("%v", perr)
		}
		e, err = cfg.Explain(rest[0])
	}
	stmt, given := rest[0], rest[1:]
	var bound []any
	if err == nil && len(given) > 0 {
		bound, err = e.Bind(toAny(given)...)
	}
	out := describe(e, stmt, bound)
	if err != nil {
		out.Error = err.Error()
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(out); jerr != nil {
			return jerr
		}
	} else {
		writeExplanation(stdout, out)
	}
	if err != nil {
		return errReported
	}
	return nil
}

// describe turns an explanation into what the command prints.
func describe(e *aiodb.Explanation, stmt string, bound []any) explainJSON {
	out := explainJSON{Dialect: e.Dialect.String(), Statement: stmt, Rewritten: e.Query, NumArgs: e.NumArgs,
		ArgOrder: []int{}, Class: e.Class(), Kind: e.Kind, Why: e.Why, TxControl: e.TxControl, ImplicitCommit: e.ImplicitCommit}
	for _, k := range e.ArgOrder {
		out.ArgOrder = append(out.ArgOrder, k+1)
	}
	for _, v := range bound {
		out.Args = append(out.Args, fmt.Sprint(v))
	}
	out.Manual = "primary"
	if e.Read {
		out.Auto = "a replica (Query; Exec runs on the primary)"
		out.Replica = "a replica (Query; Exec is refused with aiodb.ErrReadOnly)"
	} else {
		out.Auto = "primary"
		out.Replica = "refused with aiodb.ErrReadOnly before it is sent: " + e.Why
	}
	return out
}

func writeExplanation(w io.Writer, e explainJSON) {
	fmt.Fprintf(w, "dialect:    %s\n", e.Dialect)
	fmt.Fprintf(w, "statement:  %s\n", e.Statement)
	if e.Rewritten == "" && e.Error != "" {
		fmt.Fprintf(w, "rewritten:  (not rewritable)\n")
	} else {
		fmt.Fprintf(w, "rewritten:  %s\n", e.Rewritten)
		fmt.Fprintf(w, "arguments:  %d taken", e.NumArgs)
		if e.NumArgs > 0 {
			fmt.Fprintf(w, "; the backend receives them in the order %v", e.ArgOrder)
		}
		fmt.Fprintln(w)
		for i, v := range e.Args {
			fmt.Fprintf(w, "  parameter %d = argument %d = %s\n", i+1, e.ArgOrder[i], strconv.Quote(v))
		}
	}
	if e.Error != "" {
		fmt.Fprintf(w, "error:      %s\n", e.Error)
	}
	class := e.Class + ": " + e.Kind
	if e.Why != "" {
		class += " (" + e.Why + ")"
	}
	fmt.Fprintf(w, "class:      %s\n", class)
	fmt.Fprintf(w, "routing:\n")
	fmt.Fprintf(w, "  aiodb_route=manual (default)  %s\n", e.Manual)
	fmt.Fprintf(w, "  aiodb_route=auto              %s\n", e.Auto)
	fmt.Fprintf(w, "  replica context               %s\n", e.Replica)
	if e.TxControl {
		fmt.Fprintf(w, "  in an aiodb transaction       refused with aiodb.ErrTxControl (would desynchronise the savepoint stack)\n")
	}
	if e.ImplicitCommit {
		fmt.Fprintf(w, "  in a nested transaction       refused with aiodb.ErrImplicitCommit (MySQL commits implicitly)\n")
	}
}
