//go:build !linux

package backend

const (
	defaultEngine  = "goroutines"
	epollSupported = false
)

func (c *Client) batchEpoll(b batch) BatchSummary { return c.batchGoroutines(b) }

type epollSet struct{}

func (c *Client) closeEpoll() {}
