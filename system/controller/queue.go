package controller

import "sync"

// workQueue is a FIFO of keys in which a key waits at most once and is
// handled by one worker at a time, as in client-go's workqueue: adding a key
// that is already waiting or in a worker's hands is a no-op, so an event and
// a resync naming the same key cost one reconcile. (client-go would queue the
// key again after the worker is done; items never change after creation, so
// here there is nothing more to do for it.) It is unbounded so that the
// watch never blocks on slow reconciles.
type workQueue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	keys       []string
	waiting    map[string]bool
	processing map[string]bool
	shutdown   bool
}

func newWorkQueue() *workQueue {
	q := &workQueue{waiting: map[string]bool{}, processing: map[string]bool{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// add queues key unless it is already waiting or the queue is shut down.
func (q *workQueue) add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown || q.waiting[key] || q.processing[key] {
		return
	}
	q.waiting[key] = true
	q.keys = append(q.keys, key)
	q.cond.Signal()
}

// get blocks for the next key, which is the caller's until it calls done;
// ok is false once the queue is shut down. Keys still waiting at shutdown are
// dropped: a resync finds them again.
func (q *workQueue) get() (key string, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.keys) == 0 && !q.shutdown {
		q.cond.Wait()
	}
	if q.shutdown {
		return "", false
	}
	key = q.keys[0]
	q.keys[0] = ""
	q.keys = q.keys[1:]
	delete(q.waiting, key)
	q.processing[key] = true
	return key, true
}

// done says the worker is finished with key.
func (q *workQueue) done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, key)
}

func (q *workQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.keys)
}

func (q *workQueue) shutDown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdown = true
	q.cond.Broadcast()
}
