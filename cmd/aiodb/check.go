package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/aiodb/aiodb"
)

// checkJSON is the -json form of aiodb.Topology.
type checkJSON struct {
	OK       bool            `json:"ok"`
	Nodes    []nodeCheckJSON `json:"nodes"`
	Problems []string        `json:"problems"`
}

type nodeCheckJSON struct {
	URL        string   `json:"url"`
	Role       string   `json:"role"`        // configured: primary or replica
	ServerRole string   `json:"server_role"` // read-write, read-only or unknown; "" when down
	Reachable  bool     `json:"reachable"`
	Error      string   `json:"error,omitempty"`
	Version    string   `json:"version,omitempty"`
	RTTms      float64  `json:"rtt_ms"`
	LagMs      *float64 `json:"lag_ms"` // null for the primary and when unknown
}

func check(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check", "[-json] [-timeout D] [DSN]", stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	timeout := fs.Duration("timeout", 10*time.Second, "time limit of the whole check; a node that has not answered by then is down")
	if err := parse(fs, args); err != nil {
		return err
	}
	dsn, rest, err := splitDSN(fs.Args())
	if err != nil {
		return err
	}
	if err := parse(fs, rest); err != nil { // flags may also follow the DSN
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := aiodb.ParseDSN(dsn)
	if err != nil {
		return usagef("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	top, err := aiodb.CheckTopology(ctx, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		err = writeCheckJSON(stdout, top)
	} else {
		err = writeCheckTable(stdout, top)
	}
	if err != nil {
		return err
	}
	if len(top.Problems) > 0 {
		return errReported
	}
	return nil
}

func role(n aiodb.NodeCheck) string {
	if n.Primary {
		return "primary"
	}
	return "replica"
}

func serverRole(n aiodb.NodeCheck) string {
	switch {
	case n.Err != "":
		return ""
	case !n.RoleKnown:
		return "unknown"
	case n.ReadOnly:
		return "read-only"
	}
	return "read-write"
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func writeCheckJSON(w io.Writer, top *aiodb.Topology) error {
	out := checkJSON{OK: len(top.Problems) == 0, Problems: top.Problems}
	if out.Problems == nil {
		out.Problems = []string{}
	}
	for _, n := range top.Nodes {
		j := nodeCheckJSON{URL: n.URL, Role: role(n), ServerRole: serverRole(n), Reachable: n.Err == "",
			Error: n.Err, Version: n.Version, RTTms: ms(n.RTT)}
		if n.LagKnown && !n.Primary {
			lag := ms(n.Lag)
			j.LagMs = &lag
		}
		out.Nodes = append(out.Nodes, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func writeCheckTable(w io.Writer, top *aiodb.Topology) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tSERVER\tSTATE\tVERSION\tRTT\tLAG")
	for _, n := range top.Nodes {
		state, rtt, lag := "up", fmt.Sprintf("%.2fms", ms(n.RTT)), "-"
		if n.Err != "" {
			state, rtt = "unreachable", "-"
		}
		if !n.Primary && n.Err == "" {
			lag = "unknown"
			if n.LagKnown {
				lag = n.Lag.Round(time.Millisecond).String()
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.URL, role(n), orDash(serverRole(n)), state, orDash(n.Version), rtt, lag)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(top.Problems) == 0 {
		_, err := fmt.Fprintf(w, "\ntopology OK: %d node(s)\n", len(top.Nodes))
		return err
	}
	fmt.Fprintf(w, "\ntopology WRONG: %d problem(s)\n", len(top.Problems))
	for _, p := range top.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
