// Command dnsprobe runs as a pod in the cluster integration test: it
// resolves each name given through the pod's DNS (CoreDNS), dials the
// host:port pairs given after "--", and prints what it found. It exits 1 on
// the first failure, so the pod's phase says whether cluster DNS works.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dial := false
	for _, arg := range os.Args[1:] {
		if arg == "--" {
			dial = true
			continue
		}
		if dial {
			conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", arg)
			if err != nil {
				fmt.Printf("dial %s: %v\n", arg, err)
				os.Exit(1)
			}
			conn.Close()
			fmt.Printf("dial %s: ok\n", arg)
			continue
		}
		addrs, err := net.DefaultResolver.LookupHost(ctx, arg)
		if err != nil {
			fmt.Printf("lookup %s: %v\n", arg, err)
			os.Exit(1)
		}
		fmt.Printf("lookup %s: %v\n", arg, addrs)
	}
}
