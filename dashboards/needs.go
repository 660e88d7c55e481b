package dashboards

// Parts of what a run exercises that some panels need: a panel of a part
// the run did not exercise may be empty (a smoke run reconciles no item,
// so the controller's panels have nothing to show). The checks read this
// table to tell an empty panel that is a bug from one that is not
// applicable; a panel not in it must have data in every run.
const (
	PartController = "controller" // items created and reconciled
	PartWorkers    = "workers"    // report jobs queued and applied
	PartHTTP       = "k6/http"    // a script making k6/http requests
	PartCalls      = "calls"      // the k6 extension's authrep/authorize/report calls
	PartItems      = "items"      // the k6 extension's items load
	PartChecks     = "checks"     // a script with k6 checks
	PartRestarts   = "restarts"   // a process (re)started during the run
	// PartListener: the listener answered requests (calls or k6/http): its
	// latency histograms have no rate in a run of items only.
	PartListener = "listener"
)

// needs maps "DASHBOARD/PANEL" (a panel's title or an annotation's name)
// to the part it shows.
var needs = map[string]string{
	"system.json/Latency percentiles":                                  PartListener,
	"system.json/p99 latency by request type":                          PartListener,
	"system.json/Jobs per second by type":                              PartWorkers,
	"system.json/Queue depth by format":                                PartWorkers,
	"system.json/Job runtime":                                          PartWorkers,
	"system.json/Claimed and duplicate jobs (v2)":                      PartWorkers,
	"system.json/Reconciles per second per pod":                        PartController,
	"system.json/Buckets held per pod":                                 PartController,
	"system.json/Reconcile latency (item created → reconciled)":        PartController,
	"system.json/Items pending":                                        PartController,
	"system.json/Distribution ratio (max/mean reconciles per pod, 5m)": PartController,
	"load.json/Requests per second by status":                          PartHTTP,
	"load.json/Request duration":                                       PartHTTP,
	"load.json/Failed requests":                                        PartHTTP,
	"load.json/Data sent / received":                                   PartHTTP,
	"load.json/Checks passing":                                         PartChecks,
	"load.json/Calls by outcome":                                       PartCalls,
	"load.json/Call duration p95 by call":                              PartCalls,
	"load.json/Hits accepted per second":                               PartCalls,
	"load.json/Item reconcile latency (as k6 waited for it)":           PartItems,
	"load.json/Items past their deadline":                              PartItems,
	"chaos.json/Reconciles per second per pod":                         PartController,
	"chaos.json/Buckets held per pod":                                  PartController,
	"chaos.json/Items pending":                                         PartController,
	"chaos.json/Reconcile latency p99":                                 PartController,
	"chaos.json/Queue depth by format":                                 PartWorkers,
	"chaos.json/Claimed and duplicate jobs":                            PartWorkers,
	"chaos.json/Process (re)starts":                                    PartRestarts,
}

// Needs is the part a query's panel (or annotation) shows, "" when it is
// every run's.
func Needs(q Query) string { return needs[q.Dashboard+"/"+q.Panel] }
