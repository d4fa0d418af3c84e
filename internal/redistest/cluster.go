package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clusterSlots is the number of hash slots of Redis Cluster.
const clusterSlots = 16384

// Cluster is a Redis Cluster of masters only, each a [Server] of the test.
type Cluster struct {
	Servers []*Server
}

// StartCluster starts masters redis-servers in cluster mode, splits the hash
// slots evenly between them, introduces them to each other and waits until
// every node reports the cluster as ok. Cleanup stops them.
func StartCluster(tb testing.TB, masters int) *Cluster {
	tb.Helper()
	if masters < 1 {
		tb.Fatal("redistest: a cluster needs at least one master")
	}
	c := &Cluster{}
	for range masters {
		c.Servers = append(c.Servers, Start(tb, WithArgs(
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", // in the server's own directory
			"--cluster-node-timeout", "5000",
		)))
	}
	per := clusterSlots / masters
	for i, s := range c.Servers {
		first, last := i*per, (i+1)*per-1
		if i == masters-1 {
			last = clusterSlots - 1
		}
		mustOK(tb, s.Addr(), "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(first), strconv.Itoa(last))
	}
	for _, s := range c.Servers[1:] {
		mustOK(tb, c.Servers[0].Addr(), "CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(s.Port()))
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range c.Servers {
		for {
			info, err := Command(s.Addr(), "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", masters)) {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("redistest: cluster not ok after 30s; %s says: %v %s", s.Addr(), err, info)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return c
}

// Addrs returns the nodes' addresses.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		addrs[i] = s.Addr()
	}
	return addrs
}

func mustOK(tb testing.TB, addr string, args ...string) {
	tb.Helper()
	if reply, err := Command(addr, args...); err != nil || reply != "OK" {
		tb.Fatalf("redistest: %s on %s: %q, %v", strings.Join(args, " "), addr, reply, err)
	}
}

// Command sends one command to addr on a fresh connection and returns its
// reply: a simple or bulk string as is, an integer as its digits, a flat
// array as its elements joined by newlines (a nil element as ""). An error
// reply is returned as an error. It serves harness set-up; tests use a real
// client.
func Command(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	line, err := readLine(r)
	if err != nil {
		return "", err
	}
	if line[0] != '*' {
		return readValue(r, line)
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil {
		return "", err
	}
	elems := make([]string, 0, max(n, 0))
	for range n {
		l, err := readLine(r)
		if err != nil {
			return "", err
		}
		v, err := readValue(r, l)
		if err != nil {
			return "", err
		}
		elems = append(elems, v)
	}
	return strings.Join(elems, "\n"), nil
}

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty reply line")
	}
	return line, nil
}

// readValue reads the non-array reply that starts with line.
func readValue(r *bufio.Reader, line string) (string, error) {
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("redis: %s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("unsupported reply %q", line)
}
