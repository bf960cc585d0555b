package aiodbotel_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"

	"github.com/aiodb/aiodb"
	aiodbotel "github.com/aiodb/aiodb/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// With aiodb.Open, the hook is an option; each statement becomes a span.
func ExampleNewHook() {
	spans := tracetest.NewInMemoryExporter() // an OTLP exporter in production
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tp.Shutdown(context.Background())

	hook, err := aiodbotel.NewHook(aiodbotel.WithTracerProvider(tp))
	if err != nil {
		log.Fatal(err)
	}
	db, err := aiodb.Open("sqlite:///:memory:", aiodb.Hooks(hook))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	aiodb.FetchVal[int](context.Background(), db, "SELECT $1", 42)

	for _, s := range spans.GetSpans() {
		fmt.Println(s.Name, s.SpanKind)
		for _, a := range s.Attributes {
			fmt.Printf("  %s=%s\n", a.Key, a.Value.Emit())
		}
	}
	// Output:
	// SELECT client
	//   db.system.name=sqlite
	//   db.operation.name=SELECT
	//   db.query.text=SELECT ?1
	//   aiodb.node.role=primary
	//   aiodb.route.reason=primary
	//   aiodb.retry.count=0
}

// A *sql.DB from sql.Open is instrumented after the fact: its statements
// and its node gauges, with the global providers unless options say
// otherwise.
func ExampleInstrument() {
	db, err := sql.Open("aiodb", "sqlite:///:memory:")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	reg, err := aiodbotel.Instrument(db)
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Unregister()
	var n int
	fmt.Println(db.QueryRow("SELECT 1").Scan(&n), n)
	// Output: <nil> 1
}
