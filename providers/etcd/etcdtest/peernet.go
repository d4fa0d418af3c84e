package etcdtest

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"
)

// PeerNet is the network between the members of a cluster started by
// [StartClusterWithPeerNet]: each member's peers reach it through an HTTP
// proxy of the PeerNet, which knows who sends each request (etcd's peer
// requests name their sender and target members in the X-Server-From and
// X-Raft-To headers). [PeerNet.Isolate] cuts one member off from all its
// peers — the others keep talking to each other — and [PeerNet.Heal] joins
// it again. Clients still reach every member directly.
//
// Goroutines: each proxy serves on goroutines of net/http, stopped at the
// test's cleanup.
type PeerNet struct {
	mu       sync.Mutex
	isolated int // index of the isolated member, -1 when none
	ids      map[int]string
	inflight map[*peerRequest]struct{}
}

type peerRequest struct {
	member int    // the proxy's member (the request's target)
	from   string // the sender's member ID, "" when the request does not say
	cancel context.CancelFunc
}

// StartClusterWithPeerNet is [StartCluster] with the members' peer traffic
// through a PeerNet.
func StartClusterWithPeerNet(tb testing.TB, n int) (*Cluster, *PeerNet) {
	tb.Helper()
	pn := &PeerNet{isolated: -1, ids: map[int]string{}, inflight: map[*peerRequest]struct{}{}}
	return startCluster(tb, n, pn), pn
}

// add starts the proxy in front of member i's peer port and returns the
// proxy's port.
func (pn *PeerNet) add(tb testing.TB, i, peerPort int) (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("peer proxy: %w", err)
	}
	target := &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", peerPort)}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1                    // raft streams: pass every write on at once
	rp.ErrorLog = log.New(io.Discard, "", 0) // cut streams are expected
	transport := &http.Transport{}
	rp.Transport = transport
	rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) {
		w.WriteHeader(http.StatusBadGateway)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, ctx, ok := pn.admit(i, r)
		if !ok {
			http.Error(w, "etcdtest: partitioned", http.StatusServiceUnavailable)
			return
		}
		defer pn.done(req)
		rp.ServeHTTP(w, r.WithContext(ctx))
	})}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		pn.cancelWhere(func(*peerRequest) bool { return true })
		_ = srv.Shutdown(ctx)
		_ = srv.Close()
		transport.CloseIdleConnections()
	})
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// admit decides whether a request to member i passes, and registers it
// with a context of r's that cutting it cancels.
func (pn *PeerNet) admit(i int, r *http.Request) (*peerRequest, context.Context, bool) {
	pn.mu.Lock()
	defer pn.mu.Unlock()
	if to := r.Header.Get("X-Raft-To"); to != "" {
		pn.ids[i] = to
	}
	from := r.Header.Get("X-Server-From")
	if pn.cut(i, from) {
		return nil, nil, false
	}
	ctx, cancel := context.WithCancel(r.Context())
	req := &peerRequest{member: i, from: from, cancel: cancel}
	pn.inflight[req] = struct{}{}
	return req, ctx, true
}

// cut reports whether a request from the member with ID from to member i
// is cut; pn.mu is held.
func (pn *PeerNet) cut(i int, from string) bool {
	if pn.isolated < 0 {
		return false
	}
	return i == pn.isolated || (from != "" && from == pn.ids[pn.isolated])
}

func (pn *PeerNet) done(req *peerRequest) {
	pn.mu.Lock()
	delete(pn.inflight, req)
	pn.mu.Unlock()
	req.cancel()
}

// Isolate cuts member i off from its peers: requests to it and from it
// fail, and those in flight (raft's long-lived streams) are cut. The member
// must have talked to its peers once, so that the PeerNet knows its ID
// (a cluster that came up healthy has).
func (pn *PeerNet) Isolate(i int) {
	pn.mu.Lock()
	pn.isolated = i
	pn.mu.Unlock()
	pn.cancelWhere(func(req *peerRequest) bool { return pn.cut(req.member, req.from) })
}

// Heal ends the isolation.
func (pn *PeerNet) Heal() {
	pn.mu.Lock()
	pn.isolated = -1
	pn.mu.Unlock()
}

// KnowsID reports whether the PeerNet has seen member i's ID (Isolate needs
// it to recognise the member's own requests).
func (pn *PeerNet) KnowsID(i int) bool {
	pn.mu.Lock()
	defer pn.mu.Unlock()
	return pn.ids[i] != ""
}

func (pn *PeerNet) cancelWhere(match func(*peerRequest) bool) {
	pn.mu.Lock()
	var cut []*peerRequest
	for req := range pn.inflight {
		if match(req) {
			cut = append(cut, req)
		}
	}
	pn.mu.Unlock()
	for _, req := range cut {
		req.cancel()
	}
}
