package aiodbprom_test

import (
	"database/sql"
	"fmt"
	"log"
	"strings"

	_ "github.com/aiodb/aiodb"
	aiodbprom "github.com/aiodb/aiodb/otel/prom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Register one collector per database; promhttp.HandlerFor(reg, …) serves
// what testutil prints here.
func ExampleNewCollector() {
	db, err := sql.Open("aiodb", "sqlite:///:memory:")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	c, err := aiodbprom.NewCollector(db, "app")
	if err != nil {
		log.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	db.Exec("SELECT 1")

	n, err := testutil.GatherAndCount(reg, "aiodb_node_up", "aiodb_node_served_total")
	fmt.Println(n, err)
	fmt.Println(testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP aiodb_node_served_total Statements that ran on the node.
# TYPE aiodb_node_served_total counter
aiodb_node_served_total{db_name="app",node="sqlite:///:memory:"} 1
`), "aiodb_node_served_total"))
	// Output:
	// 2 <nil>
	// <nil>
}
