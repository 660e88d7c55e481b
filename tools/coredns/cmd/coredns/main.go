// Command coredns is CoreDNS with only the plugins the local cluster's
// Corefile uses (cluster/local/addons/coredns.yaml) and the one kubeadm
// writes on kind (loop besides those). Upstream's main links
// every plugin, cloud DNS providers' SDKs among them, which made most of
// its cold build; the server and these plugins are upstream's, unchanged.
// A plugin added to the Corefile must be added here too (the cluster's
// CoreDNS would fail to start, naming it).
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() {
	coremain.Run()
}
