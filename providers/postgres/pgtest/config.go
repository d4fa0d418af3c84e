package pgtest

// Config says where a cluster's server listens; the zero Config is Start's
// (127.0.0.1 only, no unix socket, the caller's network namespace).
type Config struct {
	// NetNS runs the server inside the named network namespace (ip netns
	// exec, as root), for tests that cut the network path between a client
	// and the server. The namespace must exist, with ListenAddr on one of
	// its interfaces, until the cluster is removed.
	NetNS string
	// ListenAddr is the one IPv4 address the server listens on, and the
	// host of DSN. Default 127.0.0.1.
	ListenAddr string
	// Socket makes the server listen on a unix socket in its directory
	// too, for SocketDSN. The socket is a file: it is reached from every
	// network namespace.
	Socket bool
}

// host is the address the server listens on.
func (cfg Config) host() string {
	if cfg.ListenAddr == "" {
		return "127.0.0.1"
	}
	return cfg.ListenAddr
}
