package aiodb_test

import (
	"context"
	"fmt"
	"log"

	"github.com/aiodb/aiodb"
)

// A Hook sees every statement once, with the node that served it and why
// it went there. In a replica context a write is refused before it reaches
// any node.
func ExampleHook() {
	hook := aiodb.HookFunc(func(ctx context.Context, e *aiodb.Event) {
		fmt.Printf("%s %q on %s (%s): rows=%d err=%v\n", e.Op, e.Rewritten, e.Node.URL, e.Reason, e.RowsAffected, e.Err)
	})
	db, err := aiodb.Open("sqlite:///:memory:", aiodb.Hooks(hook))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	db.Execute(ctx, "CREATE TABLE t (id INT)")
	db.Execute(ctx, "INSERT INTO t VALUES ($1), ($2)", 1, 2)
	db.Execute(aiodb.WithReplica(ctx), "DELETE FROM t")
	// Output:
	// exec "CREATE TABLE t (id INT)" on sqlite:///:memory: (primary): rows=0 err=<nil>
	// exec "INSERT INTO t VALUES (?1), (?2)" on sqlite:///:memory: (primary): rows=2 err=<nil>
	// exec "" on  (replica): rows=-1 err=aiodb: read-only: Exec of DELETE in a replica context: data-modifying statement
}
