//go:build linux

package backend

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
	"unsafe"
)

const (
	defaultEngine  = "epoll"
	epollSupported = true
)

// The epoll engine runs a whole batch on the VU's goroutine: non-blocking
// sockets, one epoll set, and per request one write and (mostly) one read,
// as wrk does. Go's netpoller costs a goroutine park and wake-up per request
// and futex calls to hand work between threads; on loopback, where the
// answer comes back in microseconds, that was most of the CPU a request took.

type epollConn struct {
	fd      int
	t       *target
	state   int // connState*
	pending []byte
	rbuf    []byte
	rn      int
	req     int64 // index of the request in flight
	start   time.Time
	served  int
}

const (
	connClosed = iota
	connConnecting
	connIdle
	connBusy
)

func sockaddrOf(t *target) (syscall.Sockaddr, int, error) {
	a, err := net.ResolveTCPAddr("tcp", t.addr)
	if err != nil {
		return nil, 0, fmt.Errorf("resolving %s: %w", t.addr, err)
	}
	if ip4 := a.IP.To4(); ip4 != nil {
		sa := &syscall.SockaddrInet4{Port: a.Port}
		copy(sa.Addr[:], ip4)
		return sa, syscall.AF_INET, nil
	}
	sa := &syscall.SockaddrInet6{Port: a.Port}
	copy(sa.Addr[:], a.IP.To16())
	return sa, syscall.AF_INET6, nil
}

func (c *Client) batchEpoll(b batch) BatchSummary {
	var sum BatchSummary
	em := c.newEmitter()
	em.sumCounters = true
	defer em.flush(b.ctx, b.state)
	fail := func(err error) BatchSummary {
		// Could not even start: every call of the batch is an error.
		for range b.count {
			em.add("authrep", OutcomeError, 0, nil)
			sum.record(OutcomeError, err.Error())
		}
		return sum
	}
	set, err := c.epollSetFor(b.concurrency)
	if err != nil {
		return fail(err)
	}
	epfd, conns, addrs := set.epfd, set.conns, set.addrs

	var (
		next     int64   // next request index to hand out
		done     int64   // requests finished, whatever their outcome
		retry    []int64 // requests to send again (a kept-alive connection closed under them)
		qbuf     []byte
		keyBuf   []byte
		wbuf     []byte
		events   = make([]syscall.EpollEvent, 64)
		lastScan = time.Now()
	)

	closeConn := func(ec *epollConn) {
		if ec.state != connClosed {
			_ = syscall.EpollCtl(epfd, syscall.EPOLL_CTL_DEL, ec.fd, nil)
			_ = syscall.Close(ec.fd)
		}
		ec.state, ec.rn, ec.pending, ec.served = connClosed, 0, nil, 0
	}
	// A batch that ran to its end leaves its idle connections open for the
	// next one (a one-batch-per-iteration script would otherwise dial and
	// close every connection per iteration); anything else closes them.
	keep := false
	defer func() {
		for _, ec := range conns {
			if !keep || ec.state != connIdle {
				closeConn(ec)
			}
		}
		if !keep {
			c.closeEpoll()
		}
	}()
	finish := func(ec *epollConn, outcome string, err string, dur time.Duration) {
		var accepted []usageEntry
		if outcome == OutcomeAuthorized {
			accepted = b.usage
		}
		em.add("authrep", outcome, dur, accepted)
		if len(em.buf) >= flushEvery {
			em.flush(b.ctx, b.state)
		}
		sum.record(outcome, err)
		done++
		ec.state = connIdle
	}
	take := func() (int64, bool) {
		if n := len(retry); n > 0 {
			i := retry[n-1]
			retry = retry[:n-1]
			return i, true
		}
		if next < b.count {
			next++
			return next - 1, true
		}
		return 0, false
	}
	var startConn func(ec *epollConn, idx int)
	// send starts the next request on an idle connection.
	send := func(ec *epollConn) {
		i, ok := take()
		if !ok {
			return
		}
		ec.req, ec.start, ec.state = i, time.Now(), connBusy
		keyBuf = b.key(keyBuf[:0], i)
		qbuf = transactionQuery(qbuf[:0], "authrep", c.creds, AppCredentials{UserKey: string(keyBuf)}, b.usage)
		wbuf = appendRequest(wbuf[:0], ec.t, "GET", qbuf, "", "", nil)
		n, err := rawWrite(ec.fd, wbuf)
		if err != nil && !errors.Is(err, syscall.EAGAIN) {
			closeConn(ec)
			finish(ec, OutcomeError, fmt.Sprintf("GET %s: writing request: %v", ec.t.base, err), time.Since(ec.start))
			ec.state = connClosed
			startConn(ec, ec.idx(conns))
			return
		}
		n = max(n, 0)
		if n < len(wbuf) { // the socket buffer is full: finish when writable
			ec.pending = append(ec.pending[:0], wbuf[n:]...)
			_ = syscall.EpollCtl(epfd, syscall.EPOLL_CTL_MOD, ec.fd, &syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT, Fd: int32(ec.idx(conns))})
		}
	}
	dial := func(ec *epollConn, idx int) error {
		a := addrs[ec.t]
		fd, err := syscall.Socket(a.family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		if err := syscall.Connect(fd, a.sa); err != nil && !errors.Is(err, syscall.EINPROGRESS) {
			_ = syscall.Close(fd)
			return fmt.Errorf("dialing %s: %w", ec.t.addr, err)
		}
		if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLOUT, Fd: int32(idx)}); err != nil {
			_ = syscall.Close(fd)
			return fmt.Errorf("epoll_ctl: %w", err)
		}
		ec.fd, ec.state, ec.start = fd, connConnecting, time.Now()
		return nil
	}
	// startConn dials when there is work; a failed dial costs one request,
	// so that a target that is down ends the batch instead of spinning.
	startConn = func(ec *epollConn, idx int) {
		for ec.state == connClosed && (len(retry) > 0 || next < b.count) {
			if err := dial(ec, idx); err != nil {
				take()
				finish(ec, OutcomeError, err.Error(), 0)
				ec.state = connClosed
				continue
			}
		}
	}
	for i, ec := range conns {
		if ec.state == connIdle { // kept from the previous batch
			send(ec)
			continue
		}
		startConn(ec, i)
	}

	for done < b.count {
		if b.ctx.Err() != nil {
			return sum // the test is over; what finished is counted
		}
		n, err := syscall.EpollWait(epfd, events, 50)
		if err != nil && !errors.Is(err, syscall.EINTR) {
			for done < b.count { // cannot wait any more: fail what is left
				finish(conns[0], OutcomeError, "epoll_wait: "+err.Error(), 0)
			}
			return sum
		}
		for _, ev := range events[:max(n, 0)] {
			idx := int(ev.Fd)
			ec := conns[idx]
			switch ec.state {
			case connConnecting:
				soErr, _ := syscall.GetsockoptInt(ec.fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
				if soErr != 0 || ev.Events&(syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
					closeConn(ec)
					if _, ok := take(); ok {
						finish(ec, OutcomeError, fmt.Sprintf("dialing %s: %v", ec.t.addr, syscall.Errno(soErr)), time.Since(ec.start))
					}
					ec.state = connClosed
					startConn(ec, idx)
					continue
				}
				_ = syscall.EpollCtl(epfd, syscall.EPOLL_CTL_MOD, ec.fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(idx)})
				ec.state = connIdle
				send(ec)
			case connBusy:
				if len(ec.pending) > 0 && ev.Events&syscall.EPOLLOUT != 0 {
					w, err := rawWrite(ec.fd, ec.pending)
					if err != nil && !errors.Is(err, syscall.EAGAIN) {
						closeConn(ec)
						finish(ec, OutcomeError, fmt.Sprintf("GET %s: writing request: %v", ec.t.base, err), time.Since(ec.start))
						ec.state = connClosed
						startConn(ec, idx)
						continue
					}
					ec.pending = ec.pending[max(w, 0):]
					if len(ec.pending) == 0 {
						_ = syscall.EpollCtl(epfd, syscall.EPOLL_CTL_MOD, ec.fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(idx)})
					}
				}
				if ev.Events&(syscall.EPOLLIN|syscall.EPOLLHUP|syscall.EPOLLERR) == 0 {
					continue
				}
				c.epollRead(ec, idx, b, finish, closeConn, startConn, send, &retry)
			default:
				// An idle connection became readable: the server closed it.
				if ev.Events&(syscall.EPOLLIN|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
					closeConn(ec)
					startConn(ec, idx)
				}
			}
		}
		// Timeouts, checked every few milliseconds rather than per event.
		if now := time.Now(); now.Sub(lastScan) > 5*time.Millisecond {
			lastScan = now
			for idx, ec := range conns {
				if (ec.state == connBusy || ec.state == connConnecting) && c.timeout > 0 && now.Sub(ec.start) > c.timeout {
					wasBusy := ec.state == connBusy
					closeConn(ec)
					if wasBusy {
						finish(ec, OutcomeError, fmt.Sprintf("GET %s: no answer within %s", ec.t.base, c.timeout), now.Sub(ec.start))
					} else if _, ok := take(); ok {
						finish(ec, OutcomeError, fmt.Sprintf("dialing %s: no connection within %s", ec.t.addr, c.timeout), now.Sub(ec.start))
					}
					ec.state = connClosed
					startConn(ec, idx)
				}
			}
		}
	}
	keep = b.ctx.Err() == nil
	return sum
}

// epollRead reads what the socket has and finishes the request in flight
// when its answer is whole.
func (c *Client) epollRead(ec *epollConn, idx int, b batch,
	finish func(*epollConn, string, string, time.Duration), closeConn func(*epollConn),
	startConn func(*epollConn, int), send func(*epollConn), retry *[]int64,
) {
	if ec.rn == len(ec.rbuf) {
		ec.rbuf = append(ec.rbuf, make([]byte, len(ec.rbuf))...)
	}
	n, err := rawRead(ec.fd, ec.rbuf[ec.rn:])
	if errors.Is(err, syscall.EAGAIN) {
		return
	}
	eof := n == 0 && err == nil
	if n > 0 {
		ec.rn += n
	}
	if err != nil {
		if ec.rn == 0 && ec.served > 0 {
			*retry = append(*retry, ec.req) // closed under us before any answer: send it again
		} else {
			finish(ec, OutcomeError, fmt.Sprintf("GET %s: reading response: %v", ec.t.base, err), time.Since(ec.start))
		}
		closeConn(ec)
		startConn(ec, idx)
		return
	}
	p, perr := parseResponse(ec.rbuf[:ec.rn], "GET", nil, eof)
	switch {
	case perr == nil:
		dur := time.Since(ec.start)
		v := classify(p.status, p.body, true)
		text := v.reason
		if v.outcome != OutcomeError {
			text = ""
		}
		ec.rn = copy(ec.rbuf, ec.rbuf[p.n:ec.rn])
		ec.served++
		finish(ec, v.outcome, text, dur)
		if !p.keep || ec.rn > 0 { // closing, or bytes we did not ask for
			closeConn(ec)
			startConn(ec, idx)
			return
		}
		send(ec)
	case errors.Is(perr, errIncomplete) && !eof:
		// wait for more
	default:
		if eof && ec.rn == 0 && ec.served > 0 {
			*retry = append(*retry, ec.req)
		} else {
			if eof && errors.Is(perr, errIncomplete) {
				perr = io.ErrUnexpectedEOF
			}
			finish(ec, OutcomeError, fmt.Sprintf("GET %s: reading response: %v", ec.t.base, perr), time.Since(ec.start))
		}
		closeConn(ec)
		startConn(ec, idx)
	}
}

type sockAddr struct {
	sa     syscall.Sockaddr
	family int
}

// epollSet is a VU's epoll instance and connections, kept from one
// authrepMany to the next while the concurrency stays the same.
type epollSet struct {
	epfd  int
	conns []*epollConn
	addrs map[*target]sockAddr
}

func (c *Client) epollSetFor(concurrency int) (*epollSet, error) {
	if c.ep != nil && len(c.ep.conns) == concurrency {
		return c.ep, nil
	}
	c.closeEpoll()
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	set := &epollSet{epfd: epfd, conns: make([]*epollConn, concurrency), addrs: map[*target]sockAddr{}}
	for i := range set.conns {
		t := c.nextTarget()
		if _, ok := set.addrs[t]; !ok {
			sa, fam, err := sockaddrOf(t)
			if err != nil {
				_ = syscall.Close(epfd)
				return nil, err
			}
			set.addrs[t] = sockAddr{sa, fam}
		}
		set.conns[i] = &epollConn{t: t, rbuf: make([]byte, 4096)}
	}
	c.ep = set
	return set, nil
}

// closeEpoll closes the kept epoll set and its connections.
func (c *Client) closeEpoll() {
	if c.ep == nil {
		return
	}
	for _, ec := range c.ep.conns {
		if ec.state != connClosed {
			_ = syscall.Close(ec.fd)
			ec.state = connClosed
		}
	}
	_ = syscall.Close(c.ep.epfd)
	c.ep = nil
}

func (ec *epollConn) idx(conns []*epollConn) int {
	for i, x := range conns {
		if x == ec {
			return i
		}
	}
	return -1
}

// rawWrite and rawRead are write(2) and read(2) on the engine's
// non-blocking sockets without the runtime's syscall entry and exit
// (syscall.Write would tell the scheduler that the thread may block, and
// take it back after): they never block, so the scheduler needs not know.
func rawWrite(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func rawRead(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}
