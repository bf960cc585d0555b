package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/aiodb/aiodb"
)

func query(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("query", "[-json] [-replica] [-timeout D] [DSN] SQL [ARG...]", stderr)
	asJSON := fs.Bool("json", false, "print the records as a JSON array of objects")
	replica := fs.Bool("replica", false, "run in a Replica block: on a replica, read-only (a write fails with aiodb.ErrReadOnly)")
	timeout := fs.Duration("timeout", 30*time.Second, "time limit of the statement")
	if err := parse(fs, args); err != nil {
		return err
	}
	dsn, rest, err := splitDSN(fs.Args())
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("no statement to run")
	}
	db, err := aiodb.Open(dsn)
	if errors.Is(err, aiodb.ErrBadDSN) {
		return usagef("%v", err)
	} else if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var recs []aiodb.Record
	fetch := func(ctx context.Context) (err error) {
		recs, err = db.FetchAll(ctx, rest[0], toAny(rest[1:])...)
		return err
	}
	if *replica {
		err = db.Replica(ctx, fetch)
	} else {
		err = fetch(ctx)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return writeRecordsJSON(stdout, recs)
	}
	return writeRecordsTable(stdout, recs)
}

// writeRecordsJSON writes the records as an array of objects whose keys
// keep the column order.
func writeRecordsJSON(w io.Writer, recs []aiodb.Record) error {
	var b bytes.Buffer
	b.WriteString("[")
	for i, r := range recs {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n  {")
		for j, col := range r.Columns() {
			if j > 0 {
				b.WriteString(", ")
			}
			k, err := json.Marshal(col)
			if err != nil {
				return err
			}
			v, err := json.Marshal(r.At(j))
			if err != nil {
				return fmt.Errorf("column %s: %w", col, err)
			}
			b.Write(k)
			b.WriteString(": ")
			b.Write(v)
		}
		b.WriteString("}")
	}
	if len(recs) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("]\n")
	_, err := w.Write(b.Bytes())
	return err
}

func writeRecordsTable(w io.Writer, recs []aiodb.Record) error {
	if len(recs) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(recs[0].Columns(), "\t"))
		for _, r := range recs {
			cells := make([]string, r.Len())
			for i := range cells {
				cells[i] = cell(r.At(i))
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "(%d row%s)\n", len(recs), plural(len(recs)))
	return err
}

// cell formats one value for the table: NULL, text as is (quoted when it
// holds a tab, a newline or another control character), bytes in hex,
// times in RFC 3339.
func cell(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case string:
		if strings.IndexFunc(v, unicode.IsControl) >= 0 {
			return strconv.Quote(v)
		}
		return v
	case []byte:
		return fmt.Sprintf("0x%x", v)
	case time.Time:
		return v.Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
