package aiodb

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzDSNPassword writes random passwords into DSNs of every scheme, on the
// primary, on a replica or both, once as written (unescaped, as people do)
// and once percent-encoded, and runs everything that can report the DSN:
// ParseDSN, sql.Open, Ping, Open, helper calls and the debug log. No
// 3-character fragment of the password may show in any of it.
//
// A fragment may also occur in text that has nothing to do with the password
// ("por" in "invalid port"). So every run is repeated with the password's
// letters and digits replaced by others of their kind (shadow): the same DSN
// structure, the same code paths, the same messages. A fragment counts only
// if it shows for the password and not for its shadow.
//
// The fuzzer's bytes become a password of printable ASCII, plus some
// non-ASCII runes (a no-break space among them, which splits a DSN like a
// space does).
func FuzzDSNPassword(f *testing.F) {
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw []byte, scheme, where uint8) {
		pw := fuzzPassword(raw)
		s := fuzzSchemes[int(scheme)%len(fuzzSchemes)]
		w := int(where) % 3
		encoded := fuzzDSN(s, dir, w, url.UserPassword("app", pw).String())
		if cfg, err := ParseDSN(encoded); err != nil {
			t.Fatalf("percent-encoded password %q refused: %v", pw, err)
		} else if got := fuzzSecrets(cfg, w); got != pw {
			t.Fatalf("percent-encoded password %q reached the backend as %q", pw, got)
		}
		shadow := shadowPassword(pw)
		seen := fuzzExposure(fuzzDSN(s, dir, w, "app:"+pw)) + fuzzExposure(encoded)
		base := fuzzExposure(fuzzDSN(s, dir, w, "app:"+shadow)) +
			fuzzExposure(fuzzDSN(s, dir, w, url.UserPassword("app", shadow).String()))
		rs := []rune(pw)
		for i := 0; i+3 <= len(rs); i++ {
			frag := string(rs[i : i+3])
			if strings.Contains(seen, frag) && !strings.Contains(base, frag) {
				t.Fatalf("password %q: fragment %q shows in\n%s", pw, frag, lineWith(seen, frag))
			}
		}
	})
}

// fuzzSchemes are the schemes the fuzz test writes DSNs for, each with the
// host and path of its primary and replica: refused ports, a data source
// that does not exist, a file.
var fuzzSchemes = []struct{ scheme, primary, replica string }{
	{"postgres", "127.0.0.1:1/shop", "127.0.0.1:2/shop"},
	{"mysql", "127.0.0.1:1/shop", "127.0.0.1:2/shop"},
	{"sqlite", "/{dir}/p.db", "/{dir}/p.db"},
	{"odbc", "aiodb_no_such_dsn/", "aiodb_no_such_dsn_2/"},
}

// fuzzDSN writes a DSN whose primary (where 0), replica (1) or both (2)
// carry userinfo; the other URL has the user alone.
func fuzzDSN(s struct{ scheme, primary, replica string }, dir string, where int, userinfo string) string {
	u := func(with bool, hostPath string) string {
		hostPath = strings.ReplaceAll(hostPath, "{dir}", filepath.ToSlash(dir))
		if with {
			return s.scheme + "://" + userinfo + "@" + hostPath
		}
		return s.scheme + "://app@" + hostPath
	}
	return u(where != 1, s.primary) + " " + u(where != 0, s.replica)
}

// fuzzSecrets returns the password of the nodes given one (they agree).
func fuzzSecrets(cfg *Config, where int) string {
	if where == 1 {
		return cfg.Replicas[0].secret
	}
	return cfg.Primary.secret
}

// fuzzPassword maps the fuzzer's bytes to a password: printable ASCII as
// is, every other byte to a printable ASCII character or, one in four, to
// a non-ASCII rune.
func fuzzPassword(raw []byte) string {
	const nonASCII = "é€ß中😀\u00a0"
	extra := []rune(nonASCII)
	var b strings.Builder
	for _, c := range raw {
		switch {
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		case c%4 == 0:
			b.WriteRune(extra[int(c/4)%len(extra)])
		default:
			b.WriteByte(0x20 + c%95)
		}
	}
	return b.String()
}

// shadowPassword replaces every letter and digit with another of its
// class, hex digits staying hex digits, so that the shadow parses exactly as
// the password does.
func shadowPassword(pw string) string {
	rot := func(r, lo rune, n, by int32) rune { return lo + (r-lo+by)%n }
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9':
			return rot(r, '0', 10, 5)
		case r >= 'a' && r <= 'f':
			return rot(r, 'a', 6, 3)
		case r >= 'A' && r <= 'F':
			return rot(r, 'A', 6, 3)
		case r >= 'g' && r <= 'z':
			return rot(r, 'g', 20, 10)
		case r >= 'G' && r <= 'Z':
			return rot(r, 'G', 20, 10)
		}
		return r
	}, pw)
}

// fuzzExposure runs everything that can report dsn and returns the errors
// and the log, without times and durations (they differ from run to run).
func fuzzExposure(dsn string) string {
	var out strings.Builder
	note := func(what string, err error) {
		if err != nil {
			fmt.Fprintf(&out, "%s: %v\n", what, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := ParseDSN(dsn)
	note("ParseDSN", err)
	if db, err := sql.Open(DriverName, dsn); err != nil {
		note("sql.Open", err)
	} else {
		note("Ping", db.PingContext(ctx))
		note("replica read", db.QueryRowContext(WithReplica(ctx), "SELECT 1").Err())
		db.Close()
	}
	var log bytes.Buffer
	h := slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Value.Kind() == slog.KindDuration {
				return slog.Attr{}
			}
			return a
		}})
	if db, err := Open(dsn, Logger(slog.New(h))); err != nil {
		note("Open", err)
	} else {
		note("DB.Ping", db.DB().PingContext(ctx))
		_, err := FetchVal[int](ctx, db, "SELECT 1")
		note("FetchVal", err)
		_, err = db.FetchAll(WithReplica(ctx), "SELECT 1")
		note("FetchAll on a replica", err)
		db.Close()
	}
	out.Write(log.Bytes())
	return out.String()
}

// lineWith returns the lines of s that contain sub.
func lineWith(s, sub string) string {
	var lines []string
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "")
}
