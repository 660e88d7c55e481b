// Command perfrun-cri stops and removes every pod sandbox a CRI runtime holds,
// so that the runtime itself tears down what each pod set up on the host
// (network namespace, CNI veth and IP allocation, shm mount, shim process).
// perfrun's local cluster runs it on `down`, before stopping containerd:
// Debian has no crictl and the proxy has no cri-tools.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func main() {
	endpoint := flag.String("endpoint", "/run/containerd/containerd.sock", "CRI socket path")
	timeout := flag.Duration("timeout", 60*time.Second, "time allowed for the whole cleanup")
	flag.Parse()
	if flag.NArg() != 1 || flag.Arg(0) != "rmp-all" {
		fmt.Fprintln(os.Stderr, "usage: perfrun-cri [-endpoint SOCK] rmp-all")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	n, err := removeAll(ctx, *endpoint)
	if err != nil {
		fmt.Fprintln(os.Stderr, "perfrun-cri:", err)
		os.Exit(1)
	}
	fmt.Printf("removed %d pod sandboxes\n", n)
}

func removeAll(ctx context.Context, endpoint string) (int, error) {
	conn, err := grpc.NewClient("unix://"+endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return 0, fmt.Errorf("connecting to %s: %w", endpoint, err)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	resp, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return 0, fmt.Errorf("listing pod sandboxes: %w", err)
	}
	for _, sb := range resp.Items {
		// Stop first: that is what runs CNI DEL and removes the netns.
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			return 0, fmt.Errorf("stopping pod sandbox %s (%s/%s): %w", sb.Id, sb.Metadata.GetNamespace(), sb.Metadata.GetName(), err)
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			return 0, fmt.Errorf("removing pod sandbox %s: %w", sb.Id, err)
		}
	}
	return len(resp.Items), nil
}
