// Package providers builds a cluster.Provider by name: the one constructor
// that the CLI (perfrun run) and the suites (suites/clusters) both call, so
// that a name, its options and its errors mean the same everywhere.
package providers

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/perfrun/perfrun/cluster"
	"github.com/perfrun/perfrun/cluster/kind"
	"github.com/perfrun/perfrun/cluster/kubeconfig"
	"github.com/perfrun/perfrun/cluster/local"
)

// Provider names, as flags and PERFRUN_PROVIDER spell them.
const (
	Local      = "local"
	Kind       = "kind"
	Kubeconfig = "kubeconfig"
)

// Names are the providers New knows, the default first.
func Names() []string { return []string{Local, Kind, Kubeconfig} }

// Options are every provider's options; each provider reads its own.
type Options struct {
	// Repo is the repository root (tools/, fixtures/). Required.
	Repo string
	// Local are the local cluster's folders; SourceDir defaults to Repo.
	Local local.Options
	// Kind is the kind cluster; Repo defaults to Repo.
	Kind kind.Options
	// Kubeconfig, PrometheusURL and PodsReachable are the kubeconfig
	// provider's: an existing cluster, its Prometheus, and whether pod IPs
	// are routable from here.
	Kubeconfig    string
	PrometheusURL string
	PodsReachable bool
	// APIServerOnly says the caller reaches only the API server (perfrun
	// clean), so the kubeconfig provider needs no PrometheusURL.
	APIServerOnly bool
}

// OptionError is bad input to New: the option it is about, spelled as the
// flags spell it without their prefix ("provider", "kubeconfig",
// "prometheus-url", "kind-config"), and what is wrong with it. Callers
// show it with their own spelling (--kubeconfig, -perfrun.kubeconfig).
type OptionError struct {
	Option string
	Err    error
}

func (e *OptionError) Error() string { return e.Option + ": " + e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

// New returns the provider called name ("" is Local). An unknown name, or
// options the provider cannot work with, are an *OptionError; nothing is
// started.
func New(name string, o Options) (cluster.Provider, error) {
	if o.Repo == "" {
		return nil, errors.New("providers: Repo is required (the repository root)")
	}
	switch name {
	case Local, "":
		if o.Local.SourceDir == "" {
			o.Local.SourceDir = o.Repo
		}
		return local.New(o.Local), nil
	case Kind:
		if o.Kind.Repo == "" {
			o.Kind.Repo = o.Repo
		}
		if o.Kind.NodeImage.CacheDir == "" {
			// The node image and kind's Prometheus come from the same
			// builds as the local cluster's.
			o.Kind.NodeImage.CacheDir = o.Local.CacheDir
		}
		p, err := kind.New(o.Kind)
		if err != nil {
			return nil, &OptionError{Option: "kind-config", Err: err}
		}
		return p, nil
	case Kubeconfig:
		switch {
		case o.Kubeconfig == "":
			return nil, &OptionError{Option: "kubeconfig", Err: errors.New("required by provider kubeconfig")}
		case o.PrometheusURL == "" && !o.APIServerOnly:
			return nil, &OptionError{Option: "prometheus-url", Err: errors.New("required by provider kubeconfig")}
		}
		if _, err := os.Stat(o.Kubeconfig); err != nil {
			return nil, &OptionError{Option: "kubeconfig", Err: err}
		}
		return &kubeconfig.Provider{Path: o.Kubeconfig, PrometheusURL: o.PrometheusURL, PodsReachable: o.PodsReachable}, nil
	}
	return nil, &OptionError{Option: "provider", Err: fmt.Errorf("%q is not a provider; want one of %s", name, strings.Join(Names(), ", "))}
}
