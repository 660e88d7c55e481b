package runner

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/result"
	"github.com/perfrun/perfrun/scenario"
)

// The no-loss assertion compares k6's summary with the usage the listener
// reports, and k6's thresholds become assertions.
func TestEvaluateNoLossAndThresholds(t *testing.T) {
	perApp := 50.0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"status":"found","totals":{"hits":%g}}`, perApp)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)

	const ns = "perfrun-t-1"
	kube := fake.NewClientset(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "listener", Namespace: ns},
		Spec: corev1.ServiceSpec{ClusterIP: "127.0.0.1"}})
	s := smoke(t)
	s.Spec.Assertions = []scenario.Assertion{{Name: "no-loss", NoLoss: &scenario.NoLoss{Service: "svc", Apps: 2, AppPrefix: "app-",
		Metric: "hits", K6Metric: "backend_hits_accepted{metric:hits}", Listener: scenario.Target{Service: "listener", Port: int32(p)}}}}

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, result.K6Summary), []byte(`{"metrics":{
	  "backend_hits_accepted{metric:hits}":{"count":100,"thresholds":{"count==100":false}},
	  "backend_call_duration":{"p(95)":900,"thresholds":{"p(95)<500":true}}}}`), 0o644)
	r := &runState{s: s, dir: dir, ns: ns, kube: kube, p: NewProgress(nil, ModeQuiet),
		res: &result.Run{LoadEnd: time.Now()}}

	if err := r.evaluate(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]assertions.Result{}
	for _, a := range r.res.Assertions {
		got[a.Name] = a
	}
	if a := got["no-loss"]; a.Status != assertions.Pass || *a.Value != 0 || len(a.Series) != 2 {
		t.Errorf("no-loss with 2×50 = 100: %+v", a)
	}
	if a := got["k6:backend_call_duration:p(95)<500"]; a.Status != assertions.Fail {
		t.Errorf("crossed threshold: %+v", a)
	}
	if a := got["k6:backend_hits_accepted{metric:hits}:count==100"]; a.Status != assertions.Pass {
		t.Errorf("held threshold: %+v", a)
	}

	perApp = 40 // 20 hits lost
	r.res.Assertions = nil
	r.evaluate(context.Background())
	if a := r.res.Assertions[0]; a.Name != "no-loss" || a.Status != assertions.Fail || *a.Value != 20 {
		t.Errorf("lost hits: %+v", a)
	}
	if r.res.Decide() != result.VerdictFail {
		t.Errorf("verdict %s", r.res.Verdict)
	}
}
