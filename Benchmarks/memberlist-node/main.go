// memberlist-node: one hashicorp/memberlist node with LAN defaults, for side-by-side figures with
// chorus-cluster-health node processes (scripts/bench-cluster.py --memberlist; BENCHMARKS.md).
// Built from Debian's golang-github-hashicorp-memberlist-dev by `make bench-cluster`, never by
// `make test`.
//
// It answers on 127.0.0.1:HTTP:
//
//	GET  /members   {"bytes_sent": N, "members": [{"name", "state": "alive"|"dead",
//	                 "state_age_seconds", "meta", "meta_age_seconds"}]}
//	POST /meta?value=V   sets this node's metadata to V and gossips it (UpdateNode)
//
// bytes_sent counts every byte the node sent: UDP packets and TCP streams (push-pull, fallback
// pings), both directions of the streams it opened or accepted. Ages are seconds since this node
// learned of the change (the bench turns them into instants on its own clock, as it does for ours).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// countingTransport is memberlist's own UDP+TCP transport, counting the bytes it sends.
type countingTransport struct {
	*memberlist.NetTransport
	sent    atomic.Int64
	streams chan net.Conn
}

func (t *countingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	t.sent.Add(int64(len(b)))
	return t.NetTransport.WriteTo(b, addr)
}

func (t *countingTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	conn, err := t.NetTransport.DialTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, sent: &t.sent}, nil
}

// memberlist sends through these two when the transport has them (NetTransport does).
func (t *countingTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

func (t *countingTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

func (t *countingTransport) StreamCh() <-chan net.Conn { return t.streams }

type countingConn struct {
	net.Conn
	sent *atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.sent.Add(int64(n))
	return n, err
}

// state records, per member, when this node last saw it change state or metadata.
type state struct {
	mu       sync.Mutex
	meta     []byte
	metaAt   map[string]time.Time
	stateAt  map[string]time.Time
	dead     map[string]bool
	metaSeen map[string]string
}

func (s *state) NodeMeta(limit int) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.meta...)
}
func (s *state) NotifyMsg([]byte)                           {}
func (s *state) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (s *state) LocalState(join bool) []byte                { return nil }
func (s *state) MergeRemoteState(buf []byte, join bool)     {}

func (s *state) note(n *memberlist.Node, dead bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.dead[n.Name] != dead || s.stateAt[n.Name].IsZero() {
		s.stateAt[n.Name] = now
	}
	s.dead[n.Name] = dead
	if meta := string(n.Meta); meta != s.metaSeen[n.Name] || s.metaAt[n.Name].IsZero() {
		s.metaSeen[n.Name] = meta
		s.metaAt[n.Name] = now
	}
}

func (s *state) NotifyJoin(n *memberlist.Node)   { s.note(n, false) }
func (s *state) NotifyLeave(n *memberlist.Node)  { s.note(n, true) }
func (s *state) NotifyUpdate(n *memberlist.Node) { s.note(n, false) }

func main() {
	name := flag.String("name", "", "node name")
	port := flag.Int("port", 0, "gossip port on 127.0.0.1")
	httpPort := flag.Int("http", 0, "HTTP port on 127.0.0.1")
	join := flag.String("join", "", "host:port of a member to join")
	flag.Parse()

	inner, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, BindPort: *port})
	if err != nil {
		log.Fatal(err)
	}
	transport := &countingTransport{NetTransport: inner, streams: make(chan net.Conn)}
	go func() {
		for conn := range inner.StreamCh() {
			transport.streams <- &countingConn{Conn: conn, sent: &transport.sent}
		}
	}()
	s := &state{metaAt: map[string]time.Time{}, stateAt: map[string]time.Time{}, dead: map[string]bool{}, metaSeen: map[string]string{}}
	config := memberlist.DefaultLANConfig()
	config.Name = *name
	config.BindAddr = "127.0.0.1"
	config.BindPort = *port
	config.AdvertiseAddr = "127.0.0.1"
	config.AdvertisePort = *port
	config.Transport = transport
	config.Delegate = s
	config.Events = s
	config.LogOutput = io.Discard
	list, err := memberlist.Create(config)
	if err != nil {
		log.Fatal(err)
	}
	if *join != "" {
		for {
			if _, err := list.Join([]string{*join}); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	http.HandleFunc("/members", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		now := time.Now()
		members := []map[string]any{}
		for name, at := range s.stateAt {
			state := "alive"
			if s.dead[name] {
				state = "dead"
			}
			members = append(members, map[string]any{
				"name": name, "state": state, "state_age_seconds": now.Sub(at).Seconds(),
				"meta": s.metaSeen[name], "meta_age_seconds": now.Sub(s.metaAt[name]).Seconds(),
			})
		}
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"bytes_sent": transport.sent.Load(), "members": members})
	})
	http.HandleFunc("/meta", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		s.mu.Lock()
		s.meta = []byte(r.URL.Query().Get("value"))
		s.metaSeen[*name] = string(s.meta)
		s.metaAt[*name] = time.Now()
		s.mu.Unlock()
		if err := list.UpdateNode(5 * time.Second); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	if err := http.ListenAndServe(fmt.Sprintf("127.0.0.1:%d", *httpPort), nil); err != nil {
		log.Fatal(err)
		os.Exit(1)
	}
}
